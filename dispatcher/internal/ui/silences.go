package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/admin"
)

// The Silences pages: the silences by state with "End now", and the form that creates one (from
// scratch or as "Silence similar…" of a delivery), with a preview of how many deliveries of the
// last 24 hours it would have silenced. Everything goes through /v1/silences.

func (u *UI) silenceRoutes(e *echo.Echo, r echo.MiddlewareFunc, w func(echo.HandlerFunc) echo.HandlerFunc) {
	e.GET("/ui/silences", u.silencesPage, r)
	e.GET("/ui/silences/new", u.newSilencePage, r, u.adminOnly)
	e.POST("/ui/silences/new", u.createSilence, w)
	e.POST("/ui/silences/:id/end", u.endSilence, w)
}

// silenceDurations are the lengths the form offers (the API refuses those beyond
// TASKHOOK_SILENCE_MAX with its own message).
var silenceDurations = []struct{ Value, Label string }{
	{"30m", "30 minutes"}, {"1h", "1 hour"}, {"2h", "2 hours"}, {"4h", "4 hours"}, {"8h", "8 hours"},
	{"24h", "1 day"}, {"72h", "3 days"}, {"168h", "1 week"},
}

// silenceForm is what the form holds.
type silenceForm struct {
	Matcher  string
	Webhooks []string // ids checked; none: every webhook
	Starts   string   // RFC 3339, empty: now
	Duration string
	Reason   string
	Subject  string // "device D-991" when it came from a delivery
	Delivery string // the delivery it came from
}

type silenceFormData struct {
	F         silenceForm
	Webhooks  []*admin.WebhookView
	Durations any
	Errors    map[string][]string
	Problem   string
	Other     []string
	Preview   *admin.PreviewView
}

func (u *UI) silencesPage(c echo.Context) error {
	type section struct {
		ID, Title, Empty string
		End              bool // "End now" buttons
		Rows             []admin.SilenceView
	}
	sections := []*section{{ID: "active", Title: "Active", Empty: "No silence is active.", End: true},
		{ID: "pending", Title: "Pending", Empty: "No silence is waiting to start.", End: true},
		{ID: "expired", Title: "Expired", Empty: "No silence has ended yet."}}
	for _, sec := range sections {
		var list struct {
			Silences []admin.SilenceView `json:"silences"`
		}
		if err := u.call(c, http.MethodGet, "/v1/silences?limit=50&state="+sec.ID, nil, &list); err != nil {
			return err
		}
		sec.Rows = list.Silences
	}
	names, err := u.webhookNames(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "silences", "Silences", "silences", map[string]any{"Sections": sections, "Names": names})
}

func (u *UI) webhooks(c echo.Context) ([]*admin.WebhookView, error) {
	var list struct {
		Webhooks []*admin.WebhookView `json:"webhooks"`
	}
	err := u.call(c, http.MethodGet, "/v1/webhooks", nil, &list)
	return list.Webhooks, err
}

func (u *UI) webhookNames(c echo.Context) (map[string]string, error) {
	ws, err := u.webhooks(c)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, w := range ws {
		out[w.ID.String()] = w.Name
	}
	return out, nil
}

func (u *UI) newSilencePage(c echo.Context) error {
	f := silenceForm{Duration: "2h"}
	if raw := c.QueryParam("delivery"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return &pageError{Status: http.StatusNotFound, Message: "There is no delivery at this address."}
		}
		var s admin.SimilarView
		if err := u.call(c, http.MethodGet, "/v1/silences/similar?"+url.Values{"delivery_id": {id.String()}}.Encode(), nil, &s); err != nil {
			return err
		}
		f.Matcher, f.Subject, f.Delivery = s.Matcher, s.Subject, id.String()
		for _, w := range s.WebhookIDs {
			f.Webhooks = append(f.Webhooks, w.String())
		}
	}
	return u.showSilenceForm(c, http.StatusOK, &silenceFormData{F: f, Errors: map[string][]string{}})
}

func (u *UI) showSilenceForm(c echo.Context, status int, d *silenceFormData) error {
	ws, err := u.webhooks(c)
	if err != nil {
		return err
	}
	d.Webhooks, d.Durations = ws, silenceDurations
	return u.render(c, status, "silence-new", "New silence", "silences", d)
}

// silenceFields maps the API's pointers onto the form's fields.
var silenceFields = []struct{ pointer, field string }{
	{"/matcher", "matcher"}, {"/webhook_ids", "webhooks"}, {"/starts_at", "starts"}, {"/ends_at", "duration"}, {"/reason", "reason"},
}

func (u *UI) createSilence(c echo.Context) error {
	if _, err := c.FormParams(); err != nil {
		return err
	}
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	form, _ := c.FormParams()
	f := silenceForm{Matcher: v("matcher"), Webhooks: form["webhook"], Starts: v("starts"), Duration: v("duration"),
		Reason: v("reason"), Subject: v("subject"), Delivery: v("delivery")}
	d := &silenceFormData{F: f, Errors: map[string][]string{}}
	webhooks := f.Webhooks
	if webhooks == nil {
		webhooks = []string{}
	}
	if c.FormValue("action") == "preview" {
		var p admin.PreviewView
		if err := u.call(c, http.MethodPost, "/v1/silences/preview", map[string]any{"matcher": f.Matcher, "webhook_ids": webhooks}, &p); err != nil {
			return u.silenceProblem(c, d, err)
		}
		d.Preview = &p
		return u.showSilenceForm(c, http.StatusOK, d)
	}
	body := map[string]any{"matcher": f.Matcher, "webhook_ids": webhooks, "reason": f.Reason}
	start := time.Now()
	if f.Starts != "" {
		t, err := time.Parse(time.RFC3339, f.Starts)
		if err != nil {
			d.Errors["starts"] = []string{"must be an RFC 3339 time with its offset, such as " + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + ", or empty for now"}
			return u.showSilenceForm(c, http.StatusUnprocessableEntity, d)
		}
		start = t
		body["starts_at"] = f.Starts
	}
	length, err := time.ParseDuration(f.Duration)
	if err != nil || length <= 0 {
		d.Errors["duration"] = []string{"choose how long the silence lasts"}
		return u.showSilenceForm(c, http.StatusUnprocessableEntity, d)
	}
	body["ends_at"] = start.Add(length).UTC().Format(time.RFC3339)
	var s admin.SilenceView
	if err := u.call(c, http.MethodPost, "/v1/silences", body, &s); err != nil {
		return u.silenceProblem(c, d, err)
	}
	return redirect(c, "/ui/silences", "silenced")
}

// silenceProblem shows the API's refusal by the fields it is about.
func (u *UI) silenceProblem(c echo.Context, d *silenceFormData, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status >= 500 {
		return err
	}
	d.Problem = ae.Message
	for _, p := range ae.Details {
		field := ""
		for _, sf := range silenceFields {
			if p.Path == sf.pointer || strings.HasPrefix(p.Path, sf.pointer+"/") {
				field = sf.field
				break
			}
		}
		if field == "" {
			d.Other = append(d.Other, p.Path+": "+p.Message)
			continue
		}
		d.Errors[field] = append(d.Errors[field], p.Message)
	}
	return u.showSilenceForm(c, ae.Status, d)
}

func (u *UI) endSilence(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return &pageError{Status: http.StatusNotFound, Message: "There is no silence at this address."}
	}
	if err := u.call(c, http.MethodDelete, "/v1/silences/"+id.String(), nil, nil); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			return redirect(c, "/ui/silences", "alreadyended")
		}
		return err
	}
	return redirect(c, "/ui/silences", "unsilenced")
}
