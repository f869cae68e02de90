// Package ui is the admins' dashboard, served by the dispatcher at /ui/: server-rendered
// html/template pages and plain forms over the admin JSON API, called in-process under the
// signed-in token (so the dashboard validates, authorizes and audits exactly as the API does).
// Sessions are sealed cookies; every write carries a CSRF token bound to its session and must
// come from the dashboard's own origin; pages are served under a strict Content-Security-Policy
// with no inline script.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/httpx"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options are what the dashboard needs from the dispatcher.
type Options struct {
	API http.Handler // the dispatcher's HTTP handler: the dashboard calls its /v1 routes in-process
	// Providers and Catalog are the registries the form is built from (providers with their
	// labels, auth types and options; the event types by family).
	Providers notify.Registry
	Catalog   *event.Catalog
	Tokens    *httpx.Tokens
	Key       []byte        // TASKHOOK_ENCRYPTION_KEY; the session and CSRF keys are derived from it
	Session   time.Duration // TASKHOOK_UI_SESSION
	// Hourly reads the counters of the last hours, for the stats chart.
	Hourly func(ctx context.Context, hours int) ([]store.HourStats, error)
	Log    *zap.Logger
	Now    func() time.Time // nil: time.Now
}

// UI is the dashboard: an http.Handler for /ui/ and everything under it.
type UI struct {
	opts    Options
	seal    *sealer
	pages   map[string]*template.Template
	mux     *echo.Echo
	formCSS []byte // the form's provider-dependent rules, built from the registries
	tested  *testedForms
}

// CSP is the Content-Security-Policy of every dashboard response: scripts and styles only
// from the dashboard's own files (no inline script, no inline style), no framing, forms
// posting only to the dashboard.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// New returns the dashboard.
func New(opts Options) (*UI, error) {
	if opts.API == nil || opts.Tokens == nil || opts.Log == nil || opts.Hourly == nil || opts.Catalog == nil || len(opts.Providers.Names()) == 0 {
		return nil, errors.New("ui: API, Tokens, Hourly, Log, Providers and Catalog are required")
	}
	if opts.Session <= 0 {
		return nil, errors.New("ui: the session lifetime must be positive")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s, err := newSealer(opts.Key)
	if err != nil {
		return nil, err
	}
	u := &UI{opts: opts, seal: s, tested: newTestedForms()}
	if u.pages, err = parsePages(opts.Now); err != nil {
		return nil, err
	}
	u.formCSS = formCSS(opts.Providers.Metas(), credential.Types())
	u.routes()
	return u, nil
}

// Mount serves the dashboard on e: GET / redirects to /ui/.
func (u *UI) Mount(e *echo.Echo) {
	toUI := func(c echo.Context) error { return c.Redirect(http.StatusFound, "/ui/") }
	e.GET("/", toUI)
	e.GET("/ui", toUI)
	h := echo.WrapHandler(u)
	e.GET("/ui/*", h)
	e.POST("/ui/*", h)
}

// ServeHTTP serves one dashboard request.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.mux.ServeHTTP(w, r) }

func (u *UI) routes() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = u.errorPage
	e.Use(headers)
	static, _ := fs.Sub(staticFS, "static")
	e.GET("/ui/form.css", func(c echo.Context) error { return c.Blob(http.StatusOK, "text/css; charset=utf-8", u.formCSS) })
	e.GET("/ui/static/*", echo.WrapHandler(http.StripPrefix("/ui/static/", http.FileServer(http.FS(static)))))
	e.GET("/ui/login", u.loginPage)
	e.POST("/ui/login", u.login)
	e.POST("/ui/logout", u.logout, u.auth, u.checkCSRF)

	r, w := u.auth, func(h echo.HandlerFunc) echo.HandlerFunc { return u.auth(u.checkCSRF(u.adminOnly(h))) }
	e.GET("/ui/", u.webhooksPage, r)
	e.GET("/ui/webhooks/new", u.newPage, r, u.adminOnly)
	e.POST("/ui/webhooks/new", u.create, w)
	e.GET("/ui/webhooks/:id", u.webhookPage, r)
	e.GET("/ui/webhooks/:id/secret", u.secretPage, r, u.adminOnly)
	e.GET("/ui/webhooks/:id/edit", u.editPage, r, u.adminOnly)
	e.POST("/ui/webhooks/:id/edit", u.update, w)
	e.POST("/ui/webhooks/:id/test", u.testSaved, w)
	e.POST("/ui/webhooks/:id/active", u.setActive, w)
	e.POST("/ui/webhooks/:id/rotate", u.rotate, w)
	e.POST("/ui/webhooks/:id/replay", u.replay, w)
	e.GET("/ui/webhooks/:id/delete", u.deletePage, r, u.adminOnly)
	e.POST("/ui/webhooks/:id/delete", u.delete, w)
	e.GET("/ui/deliveries/:id", u.deliveryPage, r)
	e.POST("/ui/deliveries/:id/retry", u.retry, w)
	e.GET("/ui/stats", u.statsPage, r)
	e.GET("/ui/audit", u.auditPage, r)
	e.GET("/ui/alerts", u.alertsPage, r)
	e.POST("/ui/alerts/:id/acknowledge", u.acknowledgeAlert, w)
	u.mux = e
}

// headers sets the security headers of every dashboard response.
func headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if p := c.Request().URL.Path; strings.HasPrefix(p, "/ui/static/") || p == "/ui/form.css" {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// viewer is the signed-in user of a request.
type viewer struct {
	sess  session
	who   httpx.Principal
	csrf  string
	token string
}

const viewerKey = "ui.viewer"

func viewerOf(c echo.Context) *viewer {
	v, _ := c.Get(viewerKey).(*viewer)
	return v
}

// auth requires a valid session whose token is still known; otherwise a page goes to the
// sign-in page and a write is refused (401).
func (u *UI) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(CookieName)
		var s session
		if err == nil {
			s, err = u.seal.open(ck.Value, u.opts.Now())
		}
		var who httpx.Principal
		if err == nil {
			var ok bool
			if who, ok = u.opts.Tokens.Lookup(s.Token); !ok {
				err = errNoSession
			}
		}
		if err != nil {
			if ck != nil {
				c.SetCookie(cookie("", time.Time{}, secure(c)))
			}
			if c.Request().Method != http.MethodGet {
				return &pageError{Status: http.StatusUnauthorized, Message: "Your session has ended or is missing: sign in again."}
			}
			return c.Redirect(http.StatusSeeOther, "/ui/login")
		}
		c.Set(viewerKey, &viewer{sess: s, who: who, csrf: u.seal.csrf(s), token: s.Token})
		return next(c)
	}
}

// checkCSRF refuses a state-changing request that does not come from the dashboard's own
// origin (Origin or Sec-Fetch-Site, when the browser sends them) or does not carry the
// session's CSRF token.
func (u *UI) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !sameOrigin(c) {
			return &pageError{Status: http.StatusForbidden, Message: "Refused: this request did not come from the dashboard's own pages."}
		}
		v := viewerOf(c)
		if v == nil || !u.seal.checkCSRF(v.sess, c.FormValue("csrf")) {
			return &pageError{Status: http.StatusForbidden, Message: "Refused: the form's security token is missing or belongs to another session. Reload the page and try again."}
		}
		return next(c)
	}
}

// sameOrigin is false when the browser says the request comes from another site.
func sameOrigin(c echo.Context) bool {
	r := c.Request()
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		ou, err := url.Parse(o)
		if err != nil || ou.Host != r.Host || ou.Scheme != c.Scheme() {
			return false
		}
	}
	return true
}

// adminOnly refuses writes to viewers (the API would refuse them too).
func (u *UI) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if v := viewerOf(c); v == nil || v.who.Role < httpx.RoleAdmin {
			return &pageError{Status: http.StatusForbidden, Message: "Refused: you are signed in with a viewer token, which can only read."}
		}
		return next(c)
	}
}

func secure(c echo.Context) bool { return c.Scheme() == "https" }

// pageError is an error shown as a page with its status.
type pageError struct {
	Status  int
	Message string
}

func (e *pageError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

func (u *UI) errorPage(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong; the request id is in the X-Request-Id header and the dispatcher's log."
	var pe *pageError
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		status, msg = pe.Status, pe.Message
	case errors.As(err, &ae):
		status, msg = ae.Status, ae.Message
	case errors.As(err, &he):
		status, msg = he.Code, http.StatusText(he.Code)
	default:
		u.opts.Log.Error("dashboard error", zap.String("path", c.Path()), zap.String("request_id", c.Request().Header.Get("X-Request-Id")), zap.Error(err))
	}
	_ = u.render(c, status, "error", "Error", "", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}
