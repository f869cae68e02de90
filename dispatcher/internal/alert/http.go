package alert

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/event"
)

//go:embed templates/ack.html
var templates embed.FS

var ackPage = template.Must(template.ParseFS(templates, "templates/ack.html"))

// PageStore is what the acknowledge pages read (*store.DB).
type PageStore interface {
	AlertByToken(ctx context.Context, hash []byte) (*store.Alert, error)
	EventPayload(ctx context.Context, id string) ([]byte, error)
}

// Channel is what the page shows of the webhook an alert was sent to.
type Channel struct {
	Name     string
	Redact   bool // no patient data: the summary is redacted
	Location *time.Location
}

// Pages serves GET and POST /ack/<token>: the page anyone holding a link sees (no sign-in),
// and the only way a link acknowledges (a POST: chat apps and mail scanners fetch links with
// GET). Unknown or forged tokens get a 404 page, expired ones a 410 page; neither says more.
type Pages struct {
	Store    PageStore
	Ack      *Acknowledger
	Box      *secretbox.Box
	EventAAD func(eventID string) []byte
	Catalog  *event.Catalog
	Channel  func(webhook uuid.UUID) (Channel, bool)
	Now      func() time.Time
}

// Mount registers the pages on e.
func (p *Pages) Mount(e *echo.Echo) {
	e.GET("/ack/:token", p.show)
	e.POST("/ack/:token", p.acknowledge)
}

func (p *Pages) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

type pageData struct {
	Heading, Message, MessageClass string
	Alert                          *alertView
}

type alertView struct {
	Title             string
	Facts             []event.Fact
	Channel           string
	Opened, OpenedISO string
	By, ByISO         string
	State             string
	Acknowledged      bool
	AckBy, AckVia     string
	AckAt, AckAtISO   string
}

// maxForm bounds the acknowledge form's body.
const maxForm = 4 << 10

func (p *Pages) render(c echo.Context, status int, d pageData) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the link is the credential: never sent on
	h.Set("X-Robots-Tag", "noindex")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	var b strings.Builder
	if err := ackPage.Execute(&b, d); err != nil {
		return err
	}
	return c.HTML(status, b.String())
}

// find resolves a token to its alert, or renders the 404 or 410 page (done true).
func (p *Pages) find(c echo.Context) (*store.Alert, bool, error) {
	tok := c.Param("token")
	if !WellFormed(tok) {
		return nil, true, p.notFound(c)
	}
	a, err := p.Store.AlertByToken(c.Request().Context(), HashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, true, p.notFound(c)
	}
	if err != nil {
		return nil, true, err
	}
	if !p.now().Before(a.TokenExpiresAt) {
		return nil, true, p.render(c, http.StatusGone, pageData{Heading: "This link has expired",
			Message: "Acknowledge links work for a limited time. Ask an administrator to acknowledge the alert from the Taskhook dashboard.", MessageClass: "error"})
	}
	return a, false, nil
}

func (p *Pages) notFound(c echo.Context) error {
	return p.render(c, http.StatusNotFound, pageData{Heading: "Link not found",
		Message: "This acknowledge link is not valid. Check that it was copied whole.", MessageClass: "error"})
}

func (p *Pages) show(c echo.Context) error {
	a, done, err := p.find(c)
	if done {
		return err
	}
	return p.render(c, http.StatusOK, pageData{Heading: "Acknowledge this alert", Alert: p.view(c.Request().Context(), a)})
}

func (p *Pages) acknowledge(c echo.Context) error {
	a, done, err := p.find(c)
	if done {
		return err
	}
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxForm)
	var perr error
	if strings.HasPrefix(req.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
		perr = req.ParseMultipartForm(maxForm)
	} else {
		perr = req.ParseForm()
	}
	if perr != nil {
		return p.render(c, http.StatusBadRequest, pageData{Heading: "Acknowledge this alert", MessageClass: "error",
			Message: "The form could not be read (at most 4 KB). Nothing was acknowledged.", Alert: p.view(req.Context(), a)})
	}
	name := strings.TrimSpace(req.Form.Get("name"))
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength || strings.ContainsFunc(name, isControl) {
		return p.render(c, http.StatusUnprocessableEntity, pageData{Heading: "Acknowledge this alert", MessageClass: "error",
			Message: "The name must be at most 100 characters of text. Nothing was acknowledged.", Alert: p.view(c.Request().Context(), a)})
	}
	got, err := p.Ack.Acknowledge(c.Request().Context(), a.ID, name, "link", "link")
	switch {
	case errors.Is(err, store.ErrAlreadyAcknowledged):
		return p.render(c, http.StatusOK, pageData{Heading: "Already acknowledged", MessageClass: "done",
			Message: "Someone acknowledged this alert first; nothing changed.", Alert: p.view(c.Request().Context(), got)})
	case errors.Is(err, store.ErrNotFound):
		return p.notFound(c)
	case err != nil:
		return err
	}
	return p.render(c, http.StatusOK, pageData{Heading: "Acknowledged", MessageClass: "done",
		Message: "Thank you. The alert is closed for everyone; no further escalation will be sent.", Alert: p.view(c.Request().Context(), got)})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// view is what the page shows of a: the event's summary as its channel shows it (redacted for
// a redacting webhook), the channel, the times and the state.
func (p *Pages) view(ctx context.Context, a *store.Alert) *alertView {
	ch, ok := p.Channel(a.WebhookID)
	if !ok {
		ch = Channel{Name: a.WebhookName, Redact: true, Location: time.UTC}
	}
	if ch.Location == nil {
		ch.Location = time.UTC
	}
	v := &alertView{Title: a.EventType, Channel: ch.Name, State: a.State,
		Opened: stamp(a.OpenedAt, ch.Location), OpenedISO: a.OpenedAt.UTC().Format(time.RFC3339),
		By: stamp(a.AcknowledgeBy, ch.Location), ByISO: a.AcknowledgeBy.UTC().Format(time.RFC3339)}
	if sealed, err := p.Store.EventPayload(ctx, a.EventID); err == nil {
		if raw, err := p.Box.Open(sealed, p.EventAAD(a.EventID)); err == nil {
			if s, err := p.Catalog.Summarize(a.EventType, raw, ch.Location, ch.Redact); err == nil {
				v.Title, v.Facts = s.Title, s.Facts
			}
		}
	}
	if a.AcknowledgedAt.Valid {
		v.Acknowledged, v.AckBy, v.AckVia = true, a.AcknowledgedBy.String, a.AcknowledgedVia.String
		v.AckAt, v.AckAtISO = stamp(a.AcknowledgedAt.Time, ch.Location), a.AcknowledgedAt.Time.UTC().Format(time.RFC3339)
	}
	return v
}

func stamp(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2 Jan 2006 15:04:05 MST")
}
