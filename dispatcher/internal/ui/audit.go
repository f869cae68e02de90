package ui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// auditLine is one audit record as the audit page shows it: what happened in words, and the
// changes one per line (never raw JSON, never a secret: the API's records hold none).
type auditLine struct {
	What    string
	Changes []string
}

// actions name the audit's actions in words.
var actions = map[string]string{
	"webhook.create":       "Created",
	"webhook.update":       "Changed",
	"webhook.delete":       "Deleted",
	"webhook.test":         "Test sent",
	"webhook.replay":       "Replayed",
	"webhook.auto_disable": "Turned off by Taskhook",
	"delivery.retry":       "Delivery retried",
}

// fieldNames name a webhook's fields in the audit's changes.
var fieldNames = map[string]string{
	"name": "Name", "description": "Description", "url": "URL", "provider": "Provider", "events": "Events",
	"filter": "Filter", "active": "State", "rate_limit_per_second": "Rate limit per second", "max_attempts": "Max attempts",
	"timezone": "Time zone", "redact": "Redact", "send_traceparent": "Trace context", "template_content_type": "Template content type",
	"template": "Template", "options": "Provider options", "digest": "Digest", "auth": "Authentication",
}

// describeAudit turns an audit record's action and details into words.
func describeAudit(action string, raw json.RawMessage) auditLine {
	var d map[string]any
	_ = json.Unmarshal(raw, &d)
	what := actions[action]
	if what == "" {
		what = action
	}
	l := auditLine{What: what}
	switch action {
	case "webhook.create":
		l.Changes = append(l.Changes, fmt.Sprintf("%s webhook “%s”, %s", text(d["provider"]), text(d["name"]), activeWord(d["active"])),
			"Events: "+text(d["events"]), "URL: "+text(d["url"]), "Authentication: "+text(d["auth"]))
	case "webhook.update":
		ch, _ := d["changes"].(map[string]any)
		keys := make([]string, 0, len(ch))
		for k := range ch {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			l.Changes = append(l.Changes, change(k, ch[k]))
		}
		if len(keys) == 0 {
			l.Changes = append(l.Changes, "Nothing changed")
		}
	case "webhook.delete":
		l.Changes = append(l.Changes, fmt.Sprintf("%s webhook “%s” and its delivery log", text(d["provider"]), text(d["name"])))
	case "webhook.test":
		res := "failed"
		if d["ok"] == true {
			res = "succeeded"
		}
		s := "Test " + res
		if c := text(d["status_code"]); c != "—" {
			s += ", HTTP " + c
		}
		if u, ok := d["url"]; ok {
			s += " (an unsaved " + text(d["provider"]) + " webhook at " + text(u) + ")"
		}
		l.Changes = append(l.Changes, s)
	case "webhook.replay":
		st := text(d["status"])
		if st == "—" {
			st = "failed and missing"
		}
		s := fmt.Sprintf("%s deliveries from %s to %s: %s re-queued, %s created", st, stamp(d["since"]), stamp(d["until"]), text(d["requeued"]), text(d["created"]))
		if d["capped"] == true {
			s += " (capped)"
		}
		l.Changes = append(l.Changes, s)
	case "webhook.auto_disable":
		l.Changes = append(l.Changes, "Failing for "+text(d["failing_for"])+": deliveries stopped until someone resumes it")
	case "delivery.retry":
		s := "Attempt " + text(d["attempt"]) + ": " + text(d["result"])
		if c := text(d["status_code"]); c != "—" {
			s += ", HTTP " + c
		}
		l.Changes = append(l.Changes, s)
	default:
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			l.Changes = append(l.Changes, k+": "+text(d[k]))
		}
	}
	return l
}

// change words one changed field of an update: {"from", "to"}, or {"changed": true} for what
// is not kept (a template, a secret URL), or the auth's own shape.
func change(field string, v any) string {
	name := fieldNames[field]
	if name == "" {
		name = field
	}
	m, _ := v.(map[string]any)
	if field == "active" {
		if m["to"] == true {
			return "Resumed (active)"
		}
		return "Paused"
	}
	if field == "auth" {
		switch {
		case m["secret"] == "rotated":
			s := "Signing secret rotated"
			if t := stamp(m["previous_valid_until"]); t != "—" {
				s += "; the previous one signs too until " + t
			}
			return s
		case m["token"] == "changed":
			return "Bearer token replaced"
		case m["private_key"] != nil:
			s := "SMART settings changed"
			if m["private_key"] == "changed" {
				s += " (new private key)"
			}
			return s
		}
	}
	if _, ok := m["from"]; ok {
		return fmt.Sprintf("%s: %s → %s", name, text(m["from"]), text(m["to"]))
	}
	return name + " changed"
}

func activeWord(v any) string {
	if v == true {
		return "active"
	}
	return "paused"
}

// text is a JSON value as words: lists joined, objects as key: value, nothing as a dash.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		if x == "" {
			return "(empty)"
		}
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = text(e)
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+" "+text(x[k]))
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// stamp is an RFC 3339 value as the dashboard shows times.
func stamp(v any) string {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// relative says how long ago (or in how long) t is from now, roughly: "just now", "5 min ago",
// "in 3 h", "2 days ago".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}
