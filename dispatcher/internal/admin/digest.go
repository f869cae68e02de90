package admin

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/taskhook/taskhook/dispatcher/internal/digest"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

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

// digestChanged reports whether a webhook's digest setting changed.
func digestChanged(old, cur *digest.Spec) bool { return !reflect.DeepEqual(old, cur) }

// settleDigest keeps the webhook's digest window in step with its setting, in the transaction
// that stores it: a changed or removed digest closes the open window now (what it collected
// goes out as one message; the new setting applies from the next event), and a daily digest
// that sends even empty days always has a window.
func settleDigest(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, old, cur *digest.Spec, loc *time.Location, now time.Time) error {
	if old != nil && digestChanged(old, cur) {
		if err := store.CloseDigestWindow(ctx, tx, id); err != nil {
			return err
		}
	}
	if cur != nil && cur.Daily() && cur.SendEmpty {
		return store.OpenDigestWindow(ctx, tx, id, now, cur.Closes(now, loc))
	}
	return nil
}

// location is a validated webhook's zone (UTC if it does not load).
func location(tz string) *time.Location {
	if loc, err := time.LoadLocation(tz); err == nil {
		return loc
	}
	return time.UTC
}
