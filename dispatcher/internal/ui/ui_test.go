package ui_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhook/taskhook/dispatcher/internal/app"
	"github.com/taskhook/taskhook/pkg/logtest"
	"github.com/taskhook/taskhook/pkg/natstest"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

const (
	adminToken  = "ui-test-admin-token"
	viewerToken = "ui-test-viewer-token"
)

// dashboard is a real dispatcher (PostgreSQL, embedded NATS) serving the dashboard.
type dashboard struct {
	t       *testing.T
	base    string
	natsURL string
	http    *http.Client
}

func start(t *testing.T) *dashboard {
	t.Helper()
	srv := natstest.Start(t)
	db := pgtest.NewDatabase(t)
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	cfg, err := app.Load([]string{"NATS_URL=" + srv.URL, "DATABASE_URL=" + db, "DISPATCHER_ADDR=127.0.0.1:0",
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_VIEWER_TOKENS=" + viewerToken,
		"TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(k), "TASKHOOK_ALLOW_HTTP=true",
		"TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8", "TASKHOOK_DUE_EVENTS=off", "TASKHOOK_UI_SESSION=1h",
		"TASKHOOK_RETRY_SCHEDULE=10s,10s", "TASKHOOK_POLL_INTERVAL=50ms", "TASKHOOK_ACK_WINDOW=100ms",
		"TASKHOOK_SHUTDOWN_TIMEOUT=5s"})
	if err != nil {
		t.Fatal(err)
	}
	// The tokens must never be logged, whatever the dashboard does.
	log := logtest.Logger(t, adminToken, viewerToken)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, app.Deps{}, log, func(a net.Addr) { addr <- a }) }()
	d := &dashboard{t: t, natsURL: srv.URL, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	select {
	case a := <-addr:
		d.base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("dispatcher exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dispatcher did not listen")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("dispatcher did not stop")
		}
	})
	return d
}

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request; form (when not nil) as a urlencoded body; headers as "Name: value".
func (d *dashboard) do(method, path string, cookie *http.Cookie, form url.Values, headers ...string) answer {
	d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, d.base+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// follow GETs the Location of a redirect after a write with the session and the cookies the
// write set (a one-time flash), as a browser would; it returns the page and those cookies.
func (d *dashboard) follow(session *http.Cookie, a answer) (answer, []*http.Cookie) {
	d.t.Helper()
	if a.status != http.StatusSeeOther {
		d.t.Fatalf("want a 303 after a write, got %d %s", a.status, a.body)
	}
	set := (&http.Response{Header: a.header}).Cookies()
	req, err := http.NewRequest("GET", d.base+a.header.Get("Location"), nil)
	if err != nil {
		d.t.Fatal(err)
	}
	req.AddCookie(session)
	for _, c := range set {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}, set
}

// auditCount is the number of audit records the dashboard lists (its first page).
func (d *dashboard) auditCount(session *http.Cookie) int {
	d.t.Helper()
	return strings.Count(d.do("GET", "/ui/audit", session, nil).body, "data-action=")
}

// signIn returns the session cookie of token.
func (d *dashboard) signIn(token string) *http.Cookie {
	d.t.Helper()
	a := d.do("POST", "/ui/login", nil, url.Values{"token": {token}}, "Origin: "+d.base)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/ui/" {
		d.t.Fatalf("sign-in: %d %s", a.status, a.body)
	}
	resp := http.Response{Header: a.header}
	for _, c := range resp.Cookies() {
		if c.Name == "taskhook_session" {
			return c
		}
	}
	d.t.Fatal("sign-in set no session cookie")
	return nil
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (d *dashboard) csrf(c *http.Cookie) string {
	d.t.Helper()
	a := d.do("GET", "/ui/", c, nil)
	m := csrfRe.FindStringSubmatch(a.body)
	if m == nil {
		d.t.Fatalf("no CSRF token on the page: %d", a.status)
	}
	return m[1]
}

func TestSessionsAndHeaders(t *testing.T) {
	d := start(t)

	a := d.do("GET", "/", nil, nil)
	if a.status != http.StatusFound || a.header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d %q, want a redirect to /ui/", a.status, a.header.Get("Location"))
	}
	a = d.do("GET", "/ui/login", nil, nil)
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := a.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	csp := a.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(a.body, "<script>") || strings.Contains(a.body, "style=") {
		t.Errorf("inline script or style on the page, or an unsafe CSP: %q", csp)
	}
	if js := d.do("GET", "/ui/static/app.js", nil, nil); js.status != 200 || !strings.Contains(js.header.Get("Content-Type"), "javascript") {
		t.Errorf("app.js: %d %q", js.status, js.header.Get("Content-Type"))
	}

	// Without a session: pages go to the sign-in page, writes are refused.
	if a := d.do("GET", "/ui/stats", nil, nil); a.status != http.StatusSeeOther || a.header.Get("Location") != "/ui/login" {
		t.Errorf("a page without a session: %d %q", a.status, a.header.Get("Location"))
	}
	if a := d.do("POST", "/ui/webhooks/new", nil, url.Values{"name": {"x"}}); a.status != http.StatusUnauthorized {
		t.Errorf("a write without a session: %d", a.status)
	}
	forged := &http.Cookie{Name: "taskhook_session", Value: base64.RawURLEncoding.EncodeToString([]byte(`{"t":"` + adminToken + `","e":9999999999,"n":"x"}`))}
	if a := d.do("GET", "/ui/", forged, nil); a.status != http.StatusSeeOther {
		t.Errorf("a forged cookie: %d", a.status)
	}

	// A wrong token: 401, and the token is not rendered back.
	a = d.do("POST", "/ui/login", nil, url.Values{"token": {"guess-" + adminToken}})
	if a.status != http.StatusUnauthorized || strings.Contains(a.body, adminToken) {
		t.Errorf("a wrong token: %d", a.status)
	}
	// A sign-in posted from another site is refused.
	if a := d.do("POST", "/ui/login", nil, url.Values{"token": {adminToken}}, "Origin: http://evil.example"); a.status != http.StatusForbidden {
		t.Errorf("a cross-site sign-in: %d", a.status)
	}

	c := d.signIn(adminToken)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/ui/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over http, Path /ui/", c)
	}
	if left := time.Until(c.Expires); left < 59*time.Minute || left > 61*time.Minute {
		t.Errorf("the session expires in %s, want TASKHOOK_UI_SESSION (1h)", left)
	}
	if strings.Contains(c.Value, adminToken) {
		t.Error("the token is readable in the cookie")
	}
	page := d.do("GET", "/ui/", c, nil)
	if page.status != 200 || strings.Contains(page.body, adminToken) || !strings.Contains(page.body, "New webhook") {
		t.Errorf("the webhooks page: %d", page.status)
	}
	// Behind a TLS-terminating proxy the cookie is Secure.
	a = d.do("POST", "/ui/login", nil, url.Values{"token": {adminToken}}, "X-Forwarded-Proto: https")
	if !strings.Contains(a.header.Get("Set-Cookie"), "; Secure") {
		t.Errorf("over TLS the cookie must be Secure: %q", a.header.Get("Set-Cookie"))
	}

	// Sign out clears the cookie.
	a = d.do("POST", "/ui/logout", c, url.Values{"csrf": {d.csrf(c)}})
	if a.status != http.StatusSeeOther || !strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign out: %d %q", a.status, a.header.Get("Set-Cookie"))
	}
}

func TestCSRFAndViewers(t *testing.T) {
	d := start(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(rcv.Close)
	admin := d.signIn(adminToken)
	token := d.csrf(admin)
	create := url.Values{"csrf": {token}, "action": {"save"}, "name": {"Desk"}, "provider": {"generic"}, "url": {rcv.URL + "/hook"},
		"events": {"task.created"}, "auth_type": {"hmac"}, "timezone": {"UTC"}, "active": {"on"}}

	other := d.signIn(adminToken)
	for name, tc := range map[string]struct {
		form    url.Values
		headers []string
	}{
		"no token":              {form: without(create, "csrf")},
		"another session's":     {form: with(create, "csrf", d.csrf(other))},
		"cross-origin":          {form: create, headers: []string{"Origin: http://evil.example"}},
		"cross-site fetch":      {form: create, headers: []string{"Sec-Fetch-Site: cross-site"}},
		"same-site, other port": {form: create, headers: []string{"Sec-Fetch-Site: same-site"}},
	} {
		if a := d.do("POST", "/ui/webhooks/new", admin, tc.form, tc.headers...); a.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, a.status)
		}
	}
	if a := d.do("GET", "/ui/", admin, nil); strings.Contains(a.body, "Desk") {
		t.Fatal("a refused request created a webhook")
	}

	// The real thing: created, then redirected (POST/redirect/GET) to the page that shows the
	// generated secret once. The secret is in no URL; reloading that page writes nothing and
	// does not show it again; the flash is worthless in another session.
	a := d.do("POST", "/ui/webhooks/new", admin, create, "Origin: "+d.base, "Sec-Fetch-Site: same-origin")
	loc := a.header.Get("Location")
	if a.status != http.StatusSeeOther || !regexp.MustCompile(`^/ui/webhooks/[0-9a-f-]{36}/secret$`).MatchString(loc) || strings.Contains(a.body, "whsec_") {
		t.Fatalf("create: %d %q, want a redirect to the secret page", a.status, loc)
	}
	audits := d.auditCount(admin)
	shown, flash := d.follow(admin, a)
	if shown.status != 200 || !strings.Contains(shown.body, `value="whsec_`) {
		t.Fatalf("the secret page: %d %s", shown.status, shown.body)
	}
	if len(flash) != 1 || flash[0].Path != loc || !flash[0].HttpOnly || flash[0].MaxAge <= 0 || flash[0].MaxAge > 120 || strings.Contains(flash[0].Value, "whsec_") {
		t.Errorf("the flash cookie must be sealed, HttpOnly, short-lived and scoped to the secret page: %+v", flash)
	}
	if again := d.do("GET", loc, admin, nil); again.status != 200 || strings.Contains(again.body, "whsec_") || !strings.Contains(again.body, "not shown again") {
		t.Errorf("reloading the secret page: %d, must say the secret is not shown again", again.status)
	}
	if n := strings.Count(d.do("GET", "/ui/", admin, nil).body, `href="/ui/webhooks/`) - 1; n != 1 { // the rows and "New webhook"
		t.Errorf("%d webhooks after the create and its reloads, want 1", n)
	}
	if got := d.auditCount(admin); got != audits {
		t.Errorf("reloading wrote audit records: %d, then %d", audits, got)
	}
	stolen, _ := http.NewRequest("GET", d.base+loc, nil)
	stolen.AddCookie(other)
	stolen.AddCookie(&http.Cookie{Name: flash[0].Name, Value: flash[0].Value})
	if resp, err := d.http.Do(stolen); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "whsec_") {
			t.Error("the flash cookie showed the secret in another session")
		}
	}
	id := regexp.MustCompile(`/ui/webhooks/([0-9a-f-]{36})`).FindStringSubmatch(loc)[1]
	if p := d.do("GET", "/ui/webhooks/"+id, admin, nil); p.status != 200 || strings.Contains(p.body, "whsec_") && !strings.Contains(p.body, "whsec_…") {
		t.Errorf("the detail page must show the secret's hint only: %d", p.status)
	}

	// A viewer reads every page, sees no write control, and is refused writes.
	viewer := d.signIn(viewerToken)
	vtok := d.csrf(viewer)
	for _, p := range []string{"/ui/", "/ui/webhooks/" + id, "/ui/stats", "/ui/audit"} {
		a := d.do("GET", p, viewer, nil)
		if a.status != 200 {
			t.Errorf("viewer GET %s: %d", p, a.status)
		}
		if n := strings.Count(a.body, `method="post"`); n != 1 { // sign out only
			t.Errorf("viewer GET %s: %d forms that post, want only sign out", p, n)
		}
	}
	for _, p := range []string{"/ui/webhooks/new", "/ui/webhooks/" + id + "/active", "/ui/webhooks/" + id + "/delete", "/ui/webhooks/" + id + "/rotate"} {
		if a := d.do("POST", p, viewer, with(with(create, "csrf", vtok), "confirm_name", "Desk"), "Origin: "+d.base); a.status != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", p, a.status)
		}
	}
	for _, p := range []string{"/ui/webhooks/new", "/ui/webhooks/" + id + "/edit", "/ui/webhooks/" + id + "/delete"} {
		if a := d.do("GET", p, viewer, nil); a.status != http.StatusForbidden {
			t.Errorf("viewer GET %s (a form that writes): %d, want 403", p, a.status)
		}
	}
	if a := d.do("GET", "/ui/webhooks/"+id, admin, nil); !strings.Contains(a.body, ">Pause<") {
		t.Error("a viewer's refused write changed the webhook")
	}

	// The API's 422 details appear by their fields, and nothing is saved.
	// A number that is not one is the API's type error, at its field.
	if a := d.do("POST", "/ui/webhooks/new", admin, with(create, "rate_limit", "fast")); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-rate_limit"`) {
		t.Errorf("rate limit %q: %d, want 422 by the field", "fast", a.status)
	}
	bad := with(with(with(with(create, "url", "ftp://x"), "events", "task.deleted"), "filter", "event.title +"), "timezone", "Mars/Olympus")
	a = d.do("POST", "/ui/webhooks/new", admin, bad)
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: %d", a.status)
	}
	for _, f := range []string{"url", "events", "filter", "timezone"} {
		if !strings.Contains(a.body, `id="err-`+f+`"`) {
			t.Errorf("no error shown by the %s field", f)
		}
	}
	for _, f := range []string{"url", "filter", "timezone"} {
		if !regexp.MustCompile(`id="` + f + `"[^>]*aria-describedby="err-` + f + `" aria-invalid="true"`).MatchString(a.body) {
			t.Errorf("the %s field is not marked invalid", f)
		}
	}
	if !strings.Contains(a.body, `value="ftp://x"`) {
		t.Error("the form lost what was typed")
	}
	// Test (unsaved) goes through the same validation.
	if a := d.do("POST", "/ui/webhooks/new", admin, with(bad, "action", "test")); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-url"`) {
		t.Errorf("test of an invalid form: %d", a.status)
	}
	// A test that was sent is shown after a redirect, with the form as typed; reloading the
	// page shows it again and sends nothing; another session cannot read it.
	tested := d.do("POST", "/ui/webhooks/new", admin, with(create, "action", "test"))
	if loc := tested.header.Get("Location"); tested.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/webhooks/new?tested=") {
		t.Fatalf("test of a valid form: %d %q, want a redirect", tested.status, loc)
	}
	before := d.auditCount(admin)
	for range 2 {
		if a := d.do("GET", tested.header.Get("Location"), admin, nil); a.status != 200 || !strings.Contains(a.body, "Test succeeded") || !strings.Contains(a.body, `value="Desk"`) {
			t.Errorf("the tested form: %d", a.status)
		}
	}
	if got := d.auditCount(admin); got != before {
		t.Errorf("reloading a tested form wrote audit records: %d, then %d", before, got)
	}
	if a := d.do("GET", tested.header.Get("Location"), d.signIn(adminToken), nil); strings.Contains(a.body, "Test succeeded") || !strings.Contains(a.body, "no longer kept") {
		t.Error("another session read the tested form")
	}
	picked := with(with(create, "action", "test"), "test_event", "battery.critical")
	if a, _ := d.follow(admin, d.do("POST", "/ui/webhooks/new", admin, picked)); !strings.Contains(a.body, "<dd>battery.critical (the catalog") {
		t.Errorf("test with a chosen event: %d", a.status)
	}

	// Delete asks for the name.
	if a := d.do("POST", "/ui/webhooks/"+id+"/delete", admin, url.Values{"csrf": {token}, "confirm_name": {"desk"}}); a.status != http.StatusUnprocessableEntity {
		t.Errorf("delete with the wrong name: %d", a.status)
	}
	if a := d.do("POST", "/ui/webhooks/"+id+"/delete", admin, url.Values{"csrf": {token}, "confirm_name": {"Desk"}}); a.status != http.StatusSeeOther {
		t.Errorf("delete: %d", a.status)
	}
	if a := d.do("GET", "/ui/webhooks/"+id, admin, nil); a.status != http.StatusNotFound {
		t.Errorf("after delete: %d", a.status)
	}
}

func TestSessionLifetimeConfig(t *testing.T) {
	base := []string{"TASKHOOK_ADMIN_TOKENS=a", "TASKHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(make([]byte, 32))}
	for _, v := range []string{"30s", "721h", "-1h"} {
		if _, err := app.Load(append(base, "TASKHOOK_UI_SESSION="+v)); err == nil || !strings.Contains(err.Error(), "TASKHOOK_UI_SESSION") {
			t.Errorf("TASKHOOK_UI_SESSION=%s: %v", v, err)
		}
	}
	if c, err := app.Load(base); err != nil || c.UISession != 12*time.Hour {
		t.Errorf("default: %v %v, want 12h", c.UISession, err)
	}
}

func with(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for kk, vv := range v {
		out[kk] = append([]string(nil), vv...)
	}
	out.Set(k, val)
	return out
}

func without(v url.Values, k string) url.Values {
	out := with(v, k, "")
	out.Del(k)
	return out
}

// A webhook's life through the pages: edit (secrets kept when left empty), test, pause and
// resume, rotate, replay, a delivery and Retry now, stats and audit.
func TestWebhookLifecycle(t *testing.T) {
	d := start(t)
	var failing atomic.Bool
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "down")
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(rcv.Close)
	admin := d.signIn(adminToken)
	tok := d.csrf(admin)
	post := func(path string, form url.Values) answer {
		t.Helper()
		return d.do("POST", path, admin, with(form, "csrf", tok))
	}

	a := post("/ui/webhooks/new", url.Values{"action": {"save"}, "name": {"Chat"}, "provider": {"slack"},
		"url": {rcv.URL + "/services/T0/B0/secretpart"}, "events": {"task.*"}, "timezone": {"UTC"}, "active": {"on"},
		"auth_type": {"hmac"}}) // hidden for Slack: not sent
	if a.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(a.header.Get("Location"), "/ui/webhooks/"), "?done=saved")
	page := d.do("GET", a.header.Get("Location"), admin, nil)
	if !strings.Contains(page.body, "Saved.") || strings.Contains(page.body, "secretpart") || !strings.Contains(page.body, "<dd>none</dd>") {
		t.Errorf("the saved Slack webhook: the URL must be masked and no auth set")
	}

	// The edit form shows the masked URL; saving it unchanged keeps the real one.
	edit := d.do("GET", "/ui/webhooks/"+id+"/edit", admin, nil)
	masked := regexp.MustCompile(`id="url" name="url" value="([^"]+)"`).FindStringSubmatch(edit.body)
	if masked == nil || strings.Contains(masked[1], "secretpart") {
		t.Fatalf("edit form URL: %v", masked)
	}
	form := url.Values{"name": {"Chat desk"}, "provider": {"slack"}, "url": {masked[1]}, "events": {"task.created"},
		"timezone": {"America/New_York"}, "max_attempts": {"3"}, "auth_type": {"none"}}
	if a, _ := d.follow(admin, post("/ui/webhooks/"+id+"/edit", with(form, "action", "test"))); a.status != 200 || !strings.Contains(a.body, "the saved webhook was tested") || !strings.Contains(a.body, "Test succeeded") {
		t.Errorf("test of an edit with the masked URL: %d", a.status)
	}
	if a := post("/ui/webhooks/"+id+"/edit", with(form, "action", "save")); a.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", a.status, a.body)
	}
	page = d.do("GET", "/ui/webhooks/"+id, admin, nil)
	for _, want := range []string{"Chat desk", "America/New_York", "<dd>3</dd>", "task.created"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("after edit the page lacks %q", want)
		}
	}
	if a, _ := d.follow(admin, post("/ui/webhooks/"+id+"/test", url.Values{})); !strings.Contains(a.body, "Test succeeded") {
		t.Errorf("the saved URL was lost by the edit: %d", a.status)
	}

	// Pause and resume.
	if a := post("/ui/webhooks/"+id+"/active", url.Values{"active": {"false"}}); a.status != http.StatusSeeOther {
		t.Fatalf("pause: %d", a.status)
	}
	if p := d.do("GET", "/ui/", admin, nil); !strings.Contains(p.body, "badge-disabled") {
		t.Error("a paused webhook's health is not shown as disabled")
	}
	// Replay refuses an inactive webhook, and a bad window at its field.
	if a := post("/ui/webhooks/"+id+"/replay", url.Values{"since": {"2026-01-01T00:00"}}); a.status != http.StatusConflict || !strings.Contains(a.body, "inactive") {
		t.Errorf("replay of a paused webhook: %d", a.status)
	}
	post("/ui/webhooks/"+id+"/active", url.Values{"active": {"true"}})
	if a := post("/ui/webhooks/"+id+"/replay", url.Values{"since": {"yesterday"}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-since"`) {
		t.Errorf("replay with a bad since: %d", a.status)
	}
	if a, _ := d.follow(admin, post("/ui/webhooks/"+id+"/replay", url.Values{"since": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}})); a.status != 200 || !strings.Contains(a.body, "Replay queued") {
		t.Errorf("replay: %d", a.status)
	}
	// Reloading the page a test or a replay redirected to writes nothing (and shows no result).
	before := d.auditCount(admin)
	for range 2 {
		if p := d.do("GET", "/ui/webhooks/"+id, admin, nil); p.status != 200 || strings.Contains(p.body, "Replay queued") {
			t.Errorf("reload after a replay: %d", p.status)
		}
	}
	if got := d.auditCount(admin); got != before {
		t.Errorf("reloading wrote audit records: %d, then %d", before, got)
	}

	// Rotate: a generic hmac webhook gets a new secret, shown once.
	a = post("/ui/webhooks/new", url.Values{"action": {"save"}, "name": {"Signed"}, "provider": {"generic"},
		"url": {rcv.URL + "/hook"}, "events": {"task.created"}, "timezone": {"UTC"}, "active": {"on"}, "auth_type": {"hmac"}})
	sid := regexp.MustCompile(`/ui/webhooks/([0-9a-f-]{36})/secret`).FindStringSubmatch(a.header.Get("Location"))
	a, _ = d.follow(admin, a)
	first := regexp.MustCompile(`value="(whsec_[^"]+)"`).FindStringSubmatch(a.body)
	if first == nil || sid == nil {
		t.Fatalf("create hmac: %d", a.status)
	}
	// Editing without typing a secret keeps it (no rotation).
	if a := post("/ui/webhooks/"+sid[1]+"/edit", url.Values{"action": {"save"}, "name": {"Signed"}, "provider": {"generic"},
		"url": {rcv.URL + "/hook"}, "events": {"task.created"}, "timezone": {"UTC"}, "auth_type": {"hmac"}}); a.status != http.StatusSeeOther {
		t.Fatalf("edit hmac: %d %s", a.status, a.body)
	}
	a, _ = d.follow(admin, post("/ui/webhooks/"+sid[1]+"/rotate", url.Values{}))
	second := regexp.MustCompile(`value="(whsec_[^"]+)"`).FindStringSubmatch(a.body)
	if second == nil || second[1] == first[1] {
		t.Fatalf("rotate: %d", a.status)
	}

	// A delivery, failing, then Retry now.
	failing.Store(true)
	publish(t, d, id)
	var deliveryID string
	deadline := time.Now().Add(15 * time.Second)
	for deliveryID == "" && time.Now().Before(deadline) {
		p := d.do("GET", "/ui/webhooks/"+id+"?status=retrying", admin, nil)
		if m := regexp.MustCompile(`/ui/deliveries/([0-9a-f-]{36})`).FindStringSubmatch(p.body); m != nil {
			deliveryID = m[1]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if deliveryID == "" {
		t.Fatal("no retrying delivery in the log")
	}
	failing.Store(false)
	if a := post("/ui/deliveries/"+deliveryID+"/retry", url.Values{}); a.status != http.StatusSeeOther {
		t.Fatalf("retry: %d %s", a.status, a.body)
	}
	p := d.do("GET", "/ui/deliveries/"+deliveryID+"?done=retried", admin, nil)
	if !strings.Contains(p.body, "status-succeeded") || !strings.Contains(p.body, "down") || !strings.Contains(p.body, "Retried") {
		t.Errorf("after Retry now the delivery must have succeeded, with the failed attempt's excerpt kept")
	}
	if strings.Contains(p.body, "Follow up") || strings.Contains(p.body, "Doe") {
		t.Error("the delivery page shows event content")
	}

	st := d.do("GET", "/ui/stats", admin, nil)
	if st.status != 200 || !strings.Contains(st.body, "<svg") || !strings.Contains(st.body, "Retry backlog") {
		t.Errorf("stats: %d", st.status)
	}
	au := d.do("GET", "/ui/audit", admin, nil)
	for _, want := range []string{`data-action="webhook.create"`, `data-action="webhook.update"`, `data-action="delivery.retry"`, `data-action="webhook.replay"`,
		"Signing secret rotated", "Name: Chat → Chat desk", "Time zone: UTC → America/New_York", `data-label="Who">You</td>`} {
		if !strings.Contains(au.body, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if strings.Contains(au.body, `{&#34;`) || strings.Contains(au.body, `&#34;changes&#34;`) {
		t.Error("the audit shows raw JSON")
	}
	if strings.Contains(au.body, "whsec_") && strings.Contains(au.body, first[1]) {
		t.Error("the audit shows a secret")
	}
}

// publish puts the seed event on the stream through the dispatcher's own NATS (ingest is not
// part of this test): the subject is its type.
func publish(t *testing.T, d *dashboard, _ string) {
	t.Helper()
	b, err := os.ReadFile("../../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(d.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, "task.created", b, jetstream.WithMsgID("ui-test-"+strconv.FormatInt(time.Now().UnixNano(), 10))); err != nil {
		t.Fatal(err)
	}
}

// TestDigestThroughTheForm: the form sets, shows, maps errors of, and removes a digest.
func TestDigestThroughTheForm(t *testing.T) {
	d := start(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(rcv.Close)
	admin := d.signIn(adminToken)
	tok := d.csrf(admin)
	post := func(path string, form url.Values) answer {
		t.Helper()
		return d.do("POST", path, admin, with(form, "csrf", tok))
	}
	base := url.Values{"action": {"save"}, "name": {"Busy channel"}, "provider": {"slack"}, "url": {rcv.URL + "/services/T0/B0/x"},
		"events": {"task.*"}, "timezone": {"America/New_York"}, "active": {"on"}, "digest_mode": {"window"}}
	if a := post("/ui/webhooks/new", with(base, "digest_window", "2s")); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-digest_window"`) {
		t.Fatalf("a 2 s window: %d, want 422 at the window field", a.status)
	}
	if a := post("/ui/webhooks/new", with(with(base, "digest_mode", "daily"), "digest_daily_at", "8am")); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-digest_daily_at"`) {
		t.Fatalf("daily at 8am: %d, want 422 at the time field", a.status)
	}
	a := post("/ui/webhooks/new", with(base, "digest_window", "15m"))
	if a.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(a.header.Get("Location"), "/ui/webhooks/"), "?done=saved")
	if page := d.do("GET", "/ui/webhooks/"+id, admin, nil); !strings.Contains(page.body, "one message per 15m0s") {
		t.Fatalf("the webhook page does not show the digest")
	}
	edit := d.do("GET", "/ui/webhooks/"+id+"/edit", admin, nil)
	if !strings.Contains(edit.body, `<option value="window" selected>`) || !strings.Contains(edit.body, `value="15m0s"`) {
		t.Fatalf("the edit form does not show the digest")
	}
	masked := regexp.MustCompile(`id="url" name="url" value="([^"]+)"`).FindStringSubmatch(edit.body)
	off := url.Values{"action": {"save"}, "name": {"Busy channel"}, "provider": {"slack"}, "url": {masked[1]}, "events": {"task.*"},
		"timezone": {"America/New_York"}, "digest_mode": {""}}
	if a := post("/ui/webhooks/"+id+"/edit", off); a.status != http.StatusSeeOther {
		t.Fatalf("digest off: %d %s", a.status, a.body)
	}
	if page := d.do("GET", "/ui/webhooks/"+id, admin, nil); !strings.Contains(page.body, "none: one message per event") {
		t.Fatal("the digest was not removed")
	}
}

// TestFormFromTheRegistries: the form chooses no provider for the admin, lists the registry's
// providers and their options, groups the operational events apart, and refuses a save
// without a provider; a provider's options are saved and shown again.
func TestFormFromTheRegistries(t *testing.T) {
	d := start(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(rcv.Close)
	admin := d.signIn(adminToken)
	tok := d.csrf(admin)
	page := d.do("GET", "/ui/webhooks/new", admin, nil)
	for _, want := range []string{`<option value="" selected>`, `<option value="slack">Slack</option>`, `<option value="teams">Microsoft Teams</option>`,
		`<option value="fhir">`, `<option value="generic">`, `id="opt-fhir-identifier_system"`, `<details class="operational">`,
		`<label for="ev-task.created">Task created</label>`, `<link rel="stylesheet" href="/ui/form.css">`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the new form lacks %s", want)
		}
	}
	if strings.Contains(page.body, "TASKHOOK_DISABLE_AFTER") || strings.Contains(page.body, "previous_health") {
		t.Error("the event picker shows variable names")
	}
	if css := d.do("GET", "/ui/form.css", nil, nil); css.status != 200 || !strings.Contains(css.body, `option[value="fhir"]`) || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("form.css: %d %q", css.status, css.header.Get("Content-Type"))
	}
	form := url.Values{"csrf": {tok}, "action": {"save"}, "name": {"EMR"}, "url": {rcv.URL + "/fhir"}, "events": {"task.*"},
		"timezone": {"UTC"}, "active": {"on"}, "auth_type": {"none"}, "opt-fhir-identifier_system": {"urn:example:task"}}
	if a := d.do("POST", "/ui/webhooks/new", admin, form); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="err-provider"`) {
		t.Fatalf("a save without a provider: %d, want 422 at the provider", a.status)
	}
	if strings.Contains(d.do("GET", "/ui/", admin, nil).body, "EMR") {
		t.Fatal("a webhook was saved without a provider")
	}
	a := d.do("POST", "/ui/webhooks/new", admin, with(form, "provider", "fhir"))
	if a.status != http.StatusSeeOther {
		t.Fatalf("create fhir: %d %s", a.status, a.body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(a.header.Get("Location"), "/ui/webhooks/"), "?done=saved")
	if edit := d.do("GET", "/ui/webhooks/"+id+"/edit", admin, nil); !strings.Contains(edit.body, `value="urn:example:task"`) {
		t.Error("the FHIR option was not saved or not shown again")
	}
	list := d.do("GET", "/ui/", admin, nil)
	if !strings.Contains(list.body, `data-label="URL" class="wrap url">127.0.0.1:`) || !strings.Contains(list.body, `data-label="State" class="state">active`) {
		t.Error("the webhooks table lacks the URL or the state")
	}
}
