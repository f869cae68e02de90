package admin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/credential/smart"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// JWKS serves GET /.well-known/jwks.json, unauthenticated as FHIR servers fetch it: the public
// keys of every smart_backend webhook (and, during its grace period, a key it replaced), by
// their stable kid. It carries no secret.
func JWKS(cache *subscription.Cache, now func() time.Time) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := cache.Refresh(c.Request().Context()); err != nil {
			return err
		}
		keys := []smart.JWK{}
		seen := map[string]bool{}
		add := func(pub, kid string) {
			if pub == "" || kid == "" || seen[kid] {
				return
			}
			if k, err := smart.JWKOf(pub, kid); err == nil {
				seen[kid] = true
				keys = append(keys, k)
			}
		}
		for _, w := range cache.All() {
			a := w.Auth
			if a.Type != credential.SMARTBackend {
				continue
			}
			if pub, err := smart.PublicPEM(a.PrivateKeyPEM); err == nil {
				add(pub, a.KeyID)
			}
			if a.PreviousUntil.After(now()) {
				add(a.PreviousPublicKeyPEM, a.PreviousKeyID)
			}
		}
		slices.SortFunc(keys, func(x, y smart.JWK) int { return strings.Compare(x.Kid, y.Kid) })
		c.Response().Header().Set("Cache-Control", "max-age=300")
		return c.JSON(http.StatusOK, map[string]any{"keys": keys})
	}
}
