package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Problem is one validation failure, located by a JSON pointer into the submitted webhook.
type Problem struct {
	Path    string
	Message string
}

// ParsePolicy reads a webhook body's "escalation": absent (nil raw) keeps cur, null removes
// it, an object replaces it. Problems are located under /escalation.
func ParsePolicy(raw json.RawMessage, cur *Policy) (*Policy, []Problem) {
	if raw == nil {
		return cur, nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return cur, []Problem{{"/escalation", `must be an object such as {"acknowledge_within": "15m", "escalate_to": ["<webhook id>"], "repeat": 0}, or null`}}
	}
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{"/escalation" + path, fmt.Sprintf(format, args...)})
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := &Policy{}
	for _, k := range keys {
		v := fields[k]
		switch k {
		case "acknowledge_within":
			var s string
			if json.Unmarshal(v, &s) != nil {
				add("/acknowledge_within", `must be a duration such as "15m"`)
				continue
			}
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				add("/acknowledge_within", `must be a duration such as "15m" or "1h", got %q`, s)
			case d < MinWithin || d > MaxWithin:
				add("/acknowledge_within", "must be between %s and %s", ShortDuration(MinWithin), ShortDuration(MaxWithin))
			default:
				p.AcknowledgeWithin = d
			}
		case "escalate_to":
			var ids []string
			if json.Unmarshal(v, &ids) != nil {
				add("/escalate_to", "must be an array of webhook ids")
				continue
			}
			seen := map[uuid.UUID]bool{}
			for i, s := range ids {
				id, err := uuid.Parse(s)
				switch {
				case err != nil:
					add(fmt.Sprintf("/escalate_to/%d", i), "must be a webhook id (a UUID), got %q", s)
				case seen[id]:
					add(fmt.Sprintf("/escalate_to/%d", i), "names webhook %s twice", id)
				default:
					seen[id] = true
					p.EscalateTo = append(p.EscalateTo, id)
				}
			}
			if len(ids) < 1 || len(ids) > MaxTargets {
				add("/escalate_to", "must name 1 to %d other webhooks, got %d", MaxTargets, len(ids))
			}
		case "repeat":
			var n int
			if json.Unmarshal(v, &n) != nil || n < 0 || n > MaxRepeat {
				add("/repeat", "must be a whole number from 0 to %d (further rounds after the first)", MaxRepeat)
				continue
			}
			p.Repeat = n
		default:
			add("/"+k, "unknown field (acknowledge_within, escalate_to or repeat)")
		}
	}
	if _, ok := fields["acknowledge_within"]; !ok {
		add("/acknowledge_within", `is required, e.g. "15m"`)
	}
	if _, ok := fields["escalate_to"]; !ok {
		add("/escalate_to", "is required: 1 to %d webhook ids", MaxTargets)
	}
	return p, ps
}

// ParseFallback reads a webhook body's "fallback": absent keeps cur, null or "" removes it, a
// webhook id sets it.
func ParseFallback(raw json.RawMessage, cur uuid.UUID) (uuid.UUID, []Problem) {
	if raw == nil {
		return cur, nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return uuid.Nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return cur, []Problem{{"/fallback", "must be a webhook id (a UUID) or null"}}
	}
	if s == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return cur, []Problem{{"/fallback", fmt.Sprintf("must be a webhook id (a UUID), got %q", s)}}
	}
	return id, nil
}

// Peer is what the checks need of another webhook.
type Peer struct {
	Provider string
	Fallback uuid.UUID
}

// Subject is the webhook being saved, as the checks see it.
type Subject struct {
	ID         uuid.UUID
	Provider   string
	HasDigest  bool
	Escalation *Policy
	Fallback   uuid.UUID
}

// Check validates a webhook's escalation and fallback against the other webhooks (peers, by
// id; the subject's own stored row may be among them) and the dispatcher's public URL: no
// escalation on fhir (no link to show) or with a digest (no single event to acknowledge) or
// without TASKHOOK_PUBLIC_URL; targets and fallback must be other existing webhooks; a chain
// of fallbacks must not loop.
func Check(s Subject, peers map[uuid.UUID]Peer, publicURL string) []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{path, fmt.Sprintf(format, args...)})
	}
	if p := s.Escalation; p != nil {
		switch {
		case s.Provider == "fhir":
			add("/escalation", "is not available on a fhir webhook: a FHIR server shows no acknowledge link; put it on a chat or generic webhook")
		case s.HasDigest:
			add("/escalation", "cannot be combined with a digest: a digest carries many events, an alert is one; remove one of them")
		}
		if publicURL == "" {
			add("/escalation", "needs TASKHOOK_PUBLIC_URL, the address people reach the dispatcher at, for the acknowledge links; set it and restart the dispatcher")
		}
		for i, id := range p.EscalateTo {
			switch _, ok := peers[id]; {
			case id == s.ID:
				add(fmt.Sprintf("/escalation/escalate_to/%d", i), "names this webhook itself; name another webhook")
			case !ok:
				add(fmt.Sprintf("/escalation/escalate_to/%d", i), "no webhook with id %s", id)
			}
		}
	}
	if s.Fallback != uuid.Nil {
		switch _, ok := peers[s.Fallback]; {
		case s.Fallback == s.ID:
			add("/fallback", "names this webhook itself; name another webhook")
		case !ok:
			add("/fallback", "no webhook with id %s", s.Fallback)
		default:
			if loop := fallbackLoop(s, peers); loop != nil {
				add("/fallback", "would make a loop of fallbacks (%s); an event must end somewhere", loopText(loop))
			}
		}
	}
	return ps
}

// fallbackLoop follows the chain from s through the peers' fallbacks; it returns the chain
// when it comes back to s (or to a webhook already seen), nil when it ends.
func fallbackLoop(s Subject, peers map[uuid.UUID]Peer) []uuid.UUID {
	chain := []uuid.UUID{s.ID}
	seen := map[uuid.UUID]bool{s.ID: true}
	next := s.Fallback
	for next != uuid.Nil {
		chain = append(chain, next)
		if seen[next] {
			return chain
		}
		seen[next] = true
		p, ok := peers[next]
		if !ok {
			return nil
		}
		next = p.Fallback
	}
	return nil
}

func loopText(ids []uuid.UUID) string {
	var b bytes.Buffer
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(id.String())
	}
	return b.String()
}
