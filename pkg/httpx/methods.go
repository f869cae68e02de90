package httpx

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// notAllowed turns the 404 of a path that exists under other methods into 405 with Allow. A
// group with middleware routes every unknown path under it to a catch-all (so that the
// middleware, authentication first, runs for it too), which answers 404 even where echo's
// router would have said 405: PUT /v1/events.
func notAllowed(c echo.Context, err error) error {
	var ee *echo.HTTPError
	if !errors.As(err, &ee) || ee.Code != http.StatusNotFound || !(c.Path() == "" || strings.HasSuffix(c.Path(), "*")) {
		return err
	}
	path := c.Request().URL.Path
	var allow []string
	for _, r := range c.Echo().Routes() {
		if strings.HasSuffix(r.Path, "*") || r.Method == echo.RouteNotFound || r.Method != strings.ToUpper(r.Method) || slices.Contains(allow, r.Method) {
			continue
		}
		if matches(r.Path, path) && r.Method != c.Request().Method {
			allow = append(allow, r.Method)
		}
	}
	if len(allow) == 0 {
		return err
	}
	if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
		allow = append(allow, http.MethodHead)
	}
	slices.Sort(allow)
	c.Response().Header().Set("Allow", strings.Join(allow, ", "))
	return Errorf(http.StatusMethodNotAllowed, "%s is not allowed on %s; use %s", c.Request().Method, path, strings.Join(allow, " or "))
}

// matches says whether an echo route pattern (with :param segments) matches path.
func matches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], ":") && ps[i] != xs[i] || strings.HasPrefix(ps[i], ":") && xs[i] == "" {
			return false
		}
	}
	return true
}
