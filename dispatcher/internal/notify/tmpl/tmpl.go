// Package tmpl is the per-webhook custom body: a Go text/template that replaces the provider's
// body (headers and signing stay). Its data uses the JSON names: .type, .timestamp, .event (the
// task event as decoded JSON) and .webhook (.webhook.name, .webhook.id).
package tmpl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// Template is a parsed body template.
type Template struct {
	t           *template.Template
	contentType string
}

// Parse parses text with Taskhook's functions; the error says where the template is wrong.
// contentType is the body's Content-Type ("" means application/json); when it is JSON the
// rendered body must be valid JSON.
func Parse(text, contentType string) (*Template, error) {
	if contentType == "" {
		contentType = "application/json"
	}
	// Functions are bound per execution (they depend on the webhook's time zone and count the
	// execution's work); parsing only needs their names.
	t, err := template.New("body").Option("missingkey=zero").Funcs(funcs(time.UTC, nil)).Parse(text)
	if err != nil {
		return nil, err
	}
	if len(t.Templates()) > 1 || t.Tree == nil {
		return nil, fmt.Errorf("define and block are not supported: write the body as one template")
	}
	if err := instrument(t.Tree.Root); err != nil {
		return nil, err
	}
	return &Template{t: t, contentType: contentType}, nil
}

// ContentType is the Content-Type of rendered bodies.
func (t *Template) ContentType() string { return t.contentType }

func isJSON(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// Render executes the template for a message. An error is permanent (the same template and
// event fail the same way every time) and says why.
func (t *Template) Render(ctx context.Context, target *notify.Target, m *notify.Message) ([]byte, error) {
	loc := target.Location
	if loc == nil {
		loc = time.UTC
	}
	var ev any
	if err := json.Unmarshal(m.Event.Raw(), &ev); err != nil {
		return nil, fmt.Errorf("template: event is not JSON: %w", err)
	}
	data := map[string]any{
		"type":      m.Type,
		"timestamp": m.Timestamp.In(loc).Format(time.RFC3339),
		"event":     ev,
		"webhook":   map[string]any{"id": target.ID, "name": target.Name},
	}
	clone, err := t.t.Clone()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, MaxDuration) // the watchdog: every step checks ctx
	defer cancel()
	b := newBudget(ctx)
	var out bytes.Buffer
	w := &limitWriter{buf: &out, left: MaxOutput, budget: b}
	if err := clone.Funcs(funcs(loc, b)).Execute(w, data); err != nil {
		if over := (*overBudget)(nil); errors.As(err, &over) {
			return nil, fmt.Errorf("template: %w", over) // without text/template's trail through the reserved names
		}
		return nil, fmt.Errorf("template: %w", err)
	}
	if isJSON(t.contentType) && !json.Valid(out.Bytes()) {
		return nil, fmt.Errorf("template: output is not valid JSON (Content-Type %s); use the json function to quote values", t.contentType)
	}
	return out.Bytes(), nil
}
