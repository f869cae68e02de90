package webhooks

import (
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/jsonx"
)

// Input is the body of a create (and, with the pointers left nil, of an update): the fields
// present are the fields set.
type Input struct {
	Name               *string            `json:"name"`
	Description        *string            `json:"description"`
	URL                *string            `json:"url"`
	Provider           *string            `json:"provider"`
	Events             *[]string          `json:"events"`
	Filter             *string            `json:"filter"`
	Active             *bool              `json:"active"`
	Auth               *credential.Config `json:"auth"`
	Template           *string            `json:"template"`
	TemplateType       *string            `json:"template_content_type"`
	RateLimitPerSecond *float64           `json:"rate_limit_per_second"`
	MaxAttempts        *int               `json:"max_attempts"`
	Timezone           *string            `json:"timezone"`
	Redact             *bool              `json:"redact"`
	Options            json.RawMessage    `json:"options"`
	Digest             json.RawMessage    `json:"digest"` // absent: unchanged; null: off
	SendTraceparent    *bool              `json:"send_traceparent"`
	TLS                json.RawMessage    `json:"tls"` // absent: unchanged; null: none
	Ordering           *string            `json:"ordering"`
	RepeatLimit        json.RawMessage    `json:"repeat_limit"` // absent: unchanged; null: off
	Escalation         json.RawMessage    `json:"escalation"`   // absent: unchanged; null: off
	Fallback           json.RawMessage    `json:"fallback"`     // absent: unchanged; null: none
}

// Decode reads a JSON body strictly into v: ErrBadRequest for malformed JSON, ErrInvalid for
// unknown fields, wrong types, a key twice, invalid UTF-8 (with the field's JSON pointer).
func Decode(body []byte, v any) error {
	// Every unknown field, wrong type and out-of-range number, each at its full pointer (and
	// a key twice, invalid UTF-8, a lone surrogate, NUL); messages never echo a value whole.
	var es jsonx.Errors
	switch err := jsonx.Decode(body, v); {
	case err == nil:
		return nil
	case errors.As(err, &es):
		ps := make([]subscription.Problem, len(es))
		for i, e := range es {
			ps[i] = subscription.Problem{Path: e.Path, Message: e.Message}
		}
		return &Error{Kind: ErrInvalid, Message: BodyInvalidMessage, Problems: ps}
	default:
		return BadRequest("%v", err)
	}
}

// BodyInvalidMessage is the message of a body that does not decode: the details say where.
const BodyInvalidMessage = "the request body is not valid; see details"

// apply copies the fields present in in onto w.
func (in *Input) apply(w *subscription.Webhook) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&w.Name, in.Name)
	set(&w.Description, in.Description)
	set(&w.URL, in.URL)
	set(&w.Provider, in.Provider)
	set(&w.Filter, in.Filter)
	set(&w.Template, in.Template)
	set(&w.TemplateType, in.TemplateType)
	set(&w.Timezone, in.Timezone)
	set(&w.Ordering, in.Ordering)
	if in.Events != nil {
		w.Events = *in.Events
		if w.Events == nil {
			w.Events = []string{}
		}
	}
	if in.Active != nil {
		w.Active = *in.Active
	}
	if in.Auth != nil {
		w.Auth = *in.Auth
	}
	if in.RateLimitPerSecond != nil {
		w.RateLimitPerSecond = *in.RateLimitPerSecond
	}
	if in.MaxAttempts != nil {
		w.MaxAttempts = *in.MaxAttempts
		if w.MaxAttempts == 0 {
			w.MaxAttempts = -1 // explicit 0 is invalid (1 to 50); absent means the default
		}
	}
	if in.Redact != nil {
		w.Redact = *in.Redact
	}
	if in.SendTraceparent != nil {
		w.SendTraceparent = *in.SendTraceparent
	}
	if in.Options != nil {
		w.Options = in.Options
	}
}

// parseDigest reads a body's "digest": absent (nil raw) leaves w's as is, null turns it off,
// an object sets it. Problems are located under /digest.
func parseDigest(raw json.RawMessage, w *subscription.Webhook) []subscription.Problem {
	if raw == nil {
		return nil
	}
	if string(raw) == "null" {
		w.Digest = nil
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return []subscription.Problem{{Path: "/digest", Message: `must be an object such as {"window": "15m"} or {"daily_at": "08:00"}, or null`}}
	}
	var ps []subscription.Problem
	s := &digest.Spec{}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fields[k]
		var err error
		switch k {
		case "window":
			err = json.Unmarshal(v, &s.Window)
			if w := time.Duration(s.Window); err == nil && (w < digest.MinWindow || w > digest.MaxWindow) {
				err = errString("must be between " + digest.MinWindow.String() + " and 24h, got " + w.String())
			}
		case "daily_at":
			if json.Unmarshal(v, &s.DailyAt) != nil {
				err = errString(`must be a time of day as "HH:MM"`)
			}
		case "send_empty":
			if json.Unmarshal(v, &s.SendEmpty) != nil {
				err = errString("must be true or false")
			}
		default:
			err = errString("unknown field (window, daily_at or send_empty)")
		}
		if err != nil {
			ps = append(ps, subscription.Problem{Path: "/digest/" + k, Message: err.Error()})
		}
	}
	w.Digest = s
	return ps
}

type errString string

func (e errString) Error() string { return string(e) }
