package app

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// providerList is the body of GET /v1/providers: what each provider is and needs, from its own
// declarations (notify.Meta), and the auth types (credential.Kinds), for clients that build
// forms or tables from them (taskhookctl providers).
type providerList struct {
	Providers []notify.Meta     `json:"providers"`
	AuthTypes []credential.Kind `json:"auth_types"`
}

// providersHandler serves GET /v1/providers; the body is built once (the registry is fixed).
func providersHandler(reg notify.Registry) echo.HandlerFunc {
	body, err := json.Marshal(providerList{Providers: reg.Metas(), AuthTypes: credential.Kinds()})
	return func(c echo.Context) error {
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	}
}
