package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/admin"
	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// --- signing in and out ---

func (u *UI) loginPage(c echo.Context) error {
	if ck, err := c.Cookie(CookieName); err == nil {
		if s, err := u.seal.open(ck.Value, u.opts.Now()); err == nil {
			if _, ok := u.opts.Tokens.Lookup(s.Token); ok {
				return c.Redirect(http.StatusSeeOther, "/ui/")
			}
		}
	}
	return u.render(c, http.StatusOK, "login", "Sign in", "", map[string]any{})
}

// login exchanges a token for a session cookie. The token is read from the form body only,
// never logged, never rendered back.
func (u *UI) login(c echo.Context) error {
	if !sameOrigin(c) {
		return &pageError{Status: http.StatusForbidden, Message: "Refused: this sign-in did not come from the dashboard's own page."}
	}
	token := strings.TrimSpace(c.FormValue("token"))
	who, ok := u.opts.Tokens.Lookup(token)
	if token == "" || !ok {
		u.opts.Log.Info("dashboard sign-in refused", zap.String("remote", c.RealIP()))
		return u.render(c, http.StatusUnauthorized, "login", "Sign in", "",
			map[string]any{"Error": "That token is not an admin or viewer token of this dispatcher."})
	}
	expires := u.opts.Now().Add(u.opts.Session)
	value, err := u.seal.seal(session{Token: token, Expires: expires.Unix(), Nonce: newNonce()})
	if err != nil {
		return err
	}
	c.SetCookie(cookie(value, expires, secure(c)))
	u.opts.Log.Info("dashboard sign-in", zap.String("who", who.Name), zap.String("role", who.Role.String()), zap.Time("expires", expires))
	return c.Redirect(http.StatusSeeOther, "/ui/")
}

func (u *UI) logout(c echo.Context) error {
	c.SetCookie(cookie("", time.Time{}, secure(c)))
	u.opts.Log.Info("dashboard sign-out", zap.String("who", viewerOf(c).who.Name))
	return redirect(c, "/ui/login", "signedout")
}

// --- webhooks ---

func (u *UI) webhooksPage(c echo.Context) error {
	var list struct {
		Webhooks []*admin.WebhookView `json:"webhooks"`
	}
	if err := u.call(c, http.MethodGet, "/v1/webhooks", nil, &list); err != nil {
		return err
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	shown := list.Webhooks
	if q != "" {
		shown = nil
		lq := strings.ToLower(q)
		for _, w := range list.Webhooks {
			hay := strings.ToLower(strings.Join(append([]string{w.Name, w.Provider, w.Description, w.Health.State}, w.Events...), " "))
			if strings.Contains(hay, lq) {
				shown = append(shown, w)
			}
		}
	}
	rows := make([]webhookRow, len(shown))
	for i, w := range shown {
		rows[i] = webhookRow{W: w, URL: shortURL(w.URL, u.opts.Providers.URLIsSecret(w.Provider))}
	}
	return u.render(c, http.StatusOK, "webhooks", "Webhooks", "webhooks",
		map[string]any{"Webhooks": rows, "Total": len(list.Webhooks), "Q": q})
}

// webhookRow is one line of the webhooks table.
type webhookRow struct {
	W   *admin.WebhookView
	URL string // shortURL
}

// formData is what form.html shows.
type formData struct {
	ID   string // empty for a new webhook
	Name string // the saved name (an edit's heading)
	F    *webhookForm
	// From the registries: the providers (with their labels, auth types and options), which of
	// them take authentication and digests, the auth types, and the event types by family.
	Providers                      []notify.Meta
	AuthProviders, DigestProviders string
	AuthKinds                      []credential.Kind
	Clinical, Operational          []eventGroup
	Errors                         map[string][]string
	Other                          []string
	Problem                        string
	Test                           *admin.TestResult
	TestNote                       string
	Saved                          *admin.WebhookView
}

func (u *UI) showForm(c echo.Context, status int, d *formData) error {
	d.Providers = u.opts.Providers.Metas()
	d.AuthProviders = providerTokens(d.Providers, takesAuth)
	d.DigestProviders = providerTokens(d.Providers, func(m notify.Meta) bool { return m.Digest })
	d.AuthKinds = credential.Kinds()
	d.Clinical, d.Operational = eventGroups(u.opts.Catalog)
	title := "New webhook"
	if d.ID != "" {
		title = "Edit " + d.Name
	}
	return u.render(c, status, "form", title, "webhooks", d)
}

func (u *UI) newPage(c echo.Context) error {
	// No provider is chosen for the admin: the form asks (a wrong default is easy to save).
	if d, ok := u.testedForm(c); ok && d.ID == "" {
		return u.showForm(c, http.StatusOK, d)
	}
	f := &webhookForm{AuthType: "none", Timezone: "UTC", Active: true}
	d := &formData{F: f, Errors: map[string][]string{}}
	if c.QueryParam("tested") != "" {
		d.TestNote = "That test's result is no longer kept (it is kept 10 minutes, on the dispatcher that ran it): fill in the form and test again."
	}
	return u.showForm(c, http.StatusOK, d)
}

// problem puts an API error on the form: 422 details by their fields, anything else on top.
func (d *formData) problem(err error) (int, error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		return 0, err
	}
	d.Problem = ae.Message
	d.Errors, d.Other = fieldErrors(ae.Details)
	return ae.Status, nil
}

func (u *UI) create(c echo.Context) error {
	f, err := parseForm(c, u.opts.Providers.Metas())
	if err != nil {
		return err
	}
	d := &formData{F: f, Errors: map[string][]string{}}
	if f.Provider == "" { // the API would take the default (generic): the form asks instead
		d.Problem = "Choose a provider: where the messages go."
		d.Errors["provider"] = []string{"Choose a provider"}
		return u.showForm(c, http.StatusUnprocessableEntity, d)
	}
	if c.FormValue("action") == "test" {
		return u.tryForm(c, d, nil)
	}
	var v admin.WebhookView
	if err := u.call(c, http.MethodPost, "/v1/webhooks", f.body(nil, u.opts.Providers.Metas()), &v); err != nil {
		status, err := d.problem(err)
		if err != nil {
			return err
		}
		return u.showForm(c, status, d)
	}
	if v.Auth.GeneratedSecret != "" {
		return u.showSecretOnce(c, v.ID.String(), v.Auth.GeneratedSecret, true)
	}
	return redirect(c, "/ui/webhooks/"+v.ID.String(), "saved")
}

// tryForm sends the unsaved form through POST /v1/webhooks/test (the real render, sign and
// send path) and shows the form again with the result. An edit whose URL is masked or whose
// secret was not typed again is not a whole webhook: the saved one is tested instead, and the
// page says so.
func (u *UI) tryForm(c echo.Context, d *formData, prev *admin.WebhookView) error {
	var res admin.TestResult
	var err error
	query := ""
	if d.F.TestEvent != "" {
		query = "?" + url.Values{"event": {d.F.TestEvent}}.Encode()
	}
	if prev == nil || d.F.complete(prev) {
		body := d.F.body(nil, u.opts.Providers.Metas())
		if prev != nil {
			if _, ok := body["url"]; !ok {
				body["url"] = prev.URL
			}
		}
		err = u.call(c, http.MethodPost, "/v1/webhooks/test"+query, body, &res)
	} else {
		d.TestNote = "The URL or secret is saved and not shown, so the saved webhook was tested (with its saved settings, not this form's changes). Type the URL or secret again to test your changes before saving."
		err = u.call(c, http.MethodPost, "/v1/webhooks/"+d.ID+"/test"+query, map[string]any{}, &res)
	}
	if err != nil {
		status, err := d.problem(err)
		if err != nil {
			return err
		}
		return u.showForm(c, status, d) // refused before anything was sent: nothing written
	}
	// Sent: the result is shown after a redirect, so that a reload sends nothing again.
	d.Test = &res
	page := "/ui/webhooks/new"
	if prev != nil {
		page = "/ui/webhooks/" + prev.ID.String() + "/edit"
	}
	id := u.tested.put(viewerOf(c).sess.Nonce, *d, u.opts.Now())
	return c.Redirect(http.StatusSeeOther, page+"?"+url.Values{"tested": {id}}.Encode())
}

// testedForm shows a form tested under ?tested= (its result and what was typed), if this
// session tested it and it is still kept; ok is false otherwise.
func (u *UI) testedForm(c echo.Context) (*formData, bool) {
	id := c.QueryParam("tested")
	if id == "" {
		return nil, false
	}
	d, ok := u.tested.get(id, viewerOf(c).sess.Nonce, u.opts.Now())
	if !ok {
		return nil, false
	}
	return &d, true
}

// webhook loads one webhook (404 page when unknown).
func (u *UI) webhook(c echo.Context) (*admin.WebhookView, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, &pageError{Status: http.StatusNotFound, Message: "There is no webhook at this address."}
	}
	var v admin.WebhookView
	if err := u.call(c, http.MethodGet, "/v1/webhooks/"+id.String(), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (u *UI) editPage(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	if d, ok := u.testedForm(c); ok && d.ID == w.ID.String() {
		d.Saved = w
		return u.showForm(c, http.StatusOK, d)
	}
	d := &formData{ID: w.ID.String(), Name: w.Name, F: formOf(w), Errors: map[string][]string{}, Saved: w}
	if c.QueryParam("tested") != "" {
		d.TestNote = "That test's result is no longer kept (it is kept 10 minutes, on the dispatcher that ran it): this is the saved webhook; change it and test again."
	}
	return u.showForm(c, http.StatusOK, d)
}

func (u *UI) update(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	f, err := parseForm(c, u.opts.Providers.Metas())
	if err != nil {
		return err
	}
	d := &formData{ID: w.ID.String(), Name: w.Name, F: f, Errors: map[string][]string{}, Saved: w}
	if c.FormValue("action") == "test" {
		return u.tryForm(c, d, w)
	}
	var v admin.WebhookView
	if err := u.call(c, http.MethodPatch, "/v1/webhooks/"+w.ID.String(), f.body(w, u.opts.Providers.Metas()), &v); err != nil {
		status, err := d.problem(err)
		if err != nil {
			return err
		}
		return u.showForm(c, status, d)
	}
	if v.Auth.GeneratedSecret != "" {
		return u.showSecretOnce(c, w.ID.String(), v.Auth.GeneratedSecret, false)
	}
	return redirect(c, "/ui/webhooks/"+w.ID.String(), "saved")
}

// secretPage shows a generated secret once (the flash cookie the write set); again, or in
// another session, it says that the secret is not shown again. It reads and writes nothing on
// the server.
func (u *UI) secretPage(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	f, ok := u.takeSecretFlash(c, w.ID.String())
	title := "New signing secret"
	if f.Created {
		title = "Webhook created"
	}
	return u.render(c, http.StatusOK, "created", title, "webhooks", map[string]any{"W": w, "Secret": f.Secret, "Created": f.Created, "Shown": ok})
}

// detailData is what webhook.html shows.
type detailData struct {
	W            *admin.WebhookView
	Deliveries   []admin.DeliveryView
	Status       string
	Cursor       string
	Next         string
	Test         *admin.TestResult
	Replay       map[string]any
	ReplayErrors map[string][]string
	ReplayOther  []string
	ReplayForm   map[string]string
}

func (u *UI) webhookPage(c echo.Context) error {
	return u.showWebhook(c, http.StatusOK, &detailData{})
}

func (u *UI) showWebhook(c echo.Context, status int, d *detailData) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	d.W = w
	if c.Request().Method == http.MethodGet {
		if r, ok := u.takeResult(c, "/ui/webhooks/"+w.ID.String()); ok {
			d.Test, d.Replay = r.Test, r.Replay
		}
	}
	d.Status, d.Cursor = c.QueryParam("status"), c.QueryParam("cursor")
	q := url.Values{"limit": {"25"}}
	if d.Status != "" {
		q.Set("status", d.Status)
	}
	if d.Cursor != "" {
		q.Set("cursor", d.Cursor)
	}
	var list struct {
		Deliveries []admin.DeliveryView `json:"deliveries"`
		Next       *string              `json:"next_cursor"`
	}
	if err := u.call(c, http.MethodGet, "/v1/webhooks/"+w.ID.String()+"/deliveries?"+q.Encode(), nil, &list); err != nil {
		return err
	}
	d.Deliveries = list.Deliveries
	if list.Next != nil {
		d.Next = *list.Next
	}
	if d.ReplayForm == nil {
		now := u.opts.Now().UTC()
		d.ReplayForm = map[string]string{"since": now.Add(-24 * time.Hour).Format("2006-01-02T15:04"), "until": now.Format("2006-01-02T15:04"), "status": ""}
	}
	return u.render(c, status, "webhook", w.Name, "webhooks", d)
}

func (u *UI) testSaved(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	var res admin.TestResult
	if err := u.call(c, http.MethodPost, "/v1/webhooks/"+w.ID.String()+"/test", map[string]any{}, &res); err != nil {
		return err
	}
	return u.redirectWithResult(c, "/ui/webhooks/"+w.ID.String(), resultFlash{Test: &res})
}

func (u *UI) setActive(c echo.Context) error {
	active := c.FormValue("active") == "true"
	if err := u.call(c, http.MethodPatch, "/v1/webhooks/"+c.Param("id"), map[string]any{"active": active}, nil); err != nil {
		return err
	}
	done := "paused"
	if active {
		done = "resumed"
	}
	return redirect(c, "/ui/webhooks/"+c.Param("id"), done)
}

// rotate makes a new hmac secret (shown once) or a new SMART key.
func (u *UI) rotate(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	var auth map[string]any
	switch w.Auth.Type {
	case "hmac":
		auth = map[string]any{"type": "hmac"}
	case "smart_backend":
		auth = map[string]any{"type": "smart_backend", "rotate_key": true}
	default:
		return &pageError{Status: http.StatusConflict, Message: "This webhook has no generated secret or key to rotate; edit its authentication instead."}
	}
	var v admin.WebhookView
	if err := u.call(c, http.MethodPatch, "/v1/webhooks/"+w.ID.String(), map[string]any{"auth": auth}, &v); err != nil {
		return err
	}
	if v.Auth.GeneratedSecret != "" {
		return u.showSecretOnce(c, w.ID.String(), v.Auth.GeneratedSecret, false)
	}
	return redirect(c, "/ui/webhooks/"+w.ID.String(), "saved")
}

// replayTime reads a datetime-local input (UTC) as RFC 3339; what does not parse is sent as
// typed, for the API to refuse at the field.
func replayTime(s string) string {
	if t, err := time.Parse("2006-01-02T15:04", s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return s
}

func (u *UI) replay(c echo.Context) error {
	form := map[string]string{"since": c.FormValue("since"), "until": c.FormValue("until"), "status": c.FormValue("status")}
	body := map[string]any{"since": replayTime(form["since"]), "until": replayTime(form["until"]), "status": form["status"]}
	var res map[string]any
	d := &detailData{ReplayForm: form}
	if err := u.call(c, http.MethodPost, "/v1/webhooks/"+c.Param("id")+"/replay", body, &res); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity && ae.Status != http.StatusConflict {
			return err
		}
		d.ReplayErrors = map[string][]string{}
		for _, p := range ae.Details {
			f := strings.TrimPrefix(p.Path, "/")
			d.ReplayErrors[f] = append(d.ReplayErrors[f], p.Message)
		}
		if len(ae.Details) == 0 {
			d.ReplayOther = []string{ae.Message}
		}
		return u.showWebhook(c, ae.Status, d)
	}
	return u.redirectWithResult(c, "/ui/webhooks/"+c.Param("id"), resultFlash{Replay: res})
}

func (u *UI) deletePage(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "delete", "Delete "+w.Name, "webhooks", map[string]any{"W": w})
}

func (u *UI) delete(c echo.Context) error {
	w, err := u.webhook(c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(c.FormValue("confirm_name")) != w.Name {
		return u.render(c, http.StatusUnprocessableEntity, "delete", "Delete "+w.Name, "webhooks",
			map[string]any{"W": w, "Error": "Type the webhook's name exactly to confirm."})
	}
	if err := u.call(c, http.MethodDelete, "/v1/webhooks/"+w.ID.String(), nil, nil); err != nil {
		return err
	}
	return redirect(c, "/ui/", "deleted")
}

// --- deliveries ---

func (u *UI) deliveryPage(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return &pageError{Status: http.StatusNotFound, Message: "There is no delivery at this address."}
	}
	var d admin.DeliveryDetail
	if err := u.call(c, http.MethodGet, "/v1/deliveries/"+id.String(), nil, &d); err != nil {
		return err
	}
	var w admin.WebhookView
	if err := u.call(c, http.MethodGet, "/v1/webhooks/"+d.WebhookID.String(), nil, &w); err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "delivery", "Delivery "+d.EventType, "webhooks", map[string]any{"D": &d, "W": &w})
}

func (u *UI) retry(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return &pageError{Status: http.StatusNotFound, Message: "There is no delivery at this address."}
	}
	if err := u.call(c, http.MethodPost, "/v1/deliveries/"+id.String()+"/retry", map[string]any{}, nil); err != nil {
		return err
	}
	return redirect(c, "/ui/deliveries/"+id.String(), "retried")
}

// --- stats and audit ---

func (u *UI) statsPage(c echo.Context) error {
	var s admin.StatsView
	if err := u.call(c, http.MethodGet, "/v1/stats", nil, &s); err != nil {
		return err
	}
	hours, err := u.opts.Hourly(c.Request().Context(), 24)
	if err != nil {
		return err
	}
	var by []map[string]any
	if raw, ok := s.ByProvider.([]any); ok {
		for _, r := range raw {
			if m, ok := r.(map[string]any); ok {
				by = append(by, m)
			}
		}
	}
	return u.render(c, http.StatusOK, "stats", "Stats", "stats", map[string]any{"S": &s, "By": by, "Chart": chart(hours), "Hours": hours})
}

func (u *UI) auditPage(c echo.Context) error {
	q := url.Values{"limit": {"50"}}
	if cur := c.QueryParam("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var list struct {
		Entries []admin.AuditView `json:"entries"`
		Next    *string           `json:"next_cursor"`
	}
	if err := u.call(c, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &list); err != nil {
		return err
	}
	var hooks struct {
		Webhooks []*admin.WebhookView `json:"webhooks"`
	}
	if err := u.call(c, http.MethodGet, "/v1/webhooks", nil, &hooks); err != nil {
		return err
	}
	names := map[string]string{}
	for _, w := range hooks.Webhooks {
		names[w.ID.String()] = w.Name
	}
	next := ""
	if list.Next != nil {
		next = *list.Next
	}
	return u.render(c, http.StatusOK, "audit", "Audit", "audit", map[string]any{"Entries": list.Entries, "Names": names, "Next": next, "Paged": c.QueryParam("cursor") != ""})
}
