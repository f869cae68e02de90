// Package webhooks is the service behind every change to a webhook, whoever asks for it: the
// admin JSON API and the dashboard call the same methods. Its rules: what a body may set and
// how it is validated, secrets generated and sealed (never shown again), rotations that keep the
// previous secret or key for a grace period, the digest window kept in step with the setting,
// an audit entry for every change and every test send, and test-before-save through the real
// render, sign and send path.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/event"
)

// Store is what the service needs of PostgreSQL (PG is the real one).
type Store interface {
	List(ctx context.Context) ([]store.WebhookWithHealth, error)
	// Get returns store.ErrNotFound when there is no webhook id.
	Get(ctx context.Context, id uuid.UUID) (*store.WebhookWithHealth, error)
	// Retrying reports which of ids have deliveries waiting for a retry (their health).
	Retrying(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error)
	// Save stores a new or changed webhook, applies its digest change and records its audit
	// entry, all in one transaction.
	Save(ctx context.Context, s Save) error
	// Delete removes webhook id (store.ErrNotFound when there is none) and records e.
	Delete(ctx context.Context, id uuid.UUID, e Entry) error
	// Audit records e.
	Audit(ctx context.Context, e Entry) error
	// Peers lists every webhook's id, provider and fallback (to check an escalation or a fallback).
	Peers(ctx context.Context) ([]store.WebhookPeer, error)
}

// Entry is one audit record.
type Entry struct {
	Actor   string // a token's fingerprint name, never a token
	Action  string
	Webhook uuid.UUID
	Target  string
	Details any
}

// Save is one webhook written: the sealed row, whether it is new, what happens to its digest
// window, and the audit entry.
type Save struct {
	Row    *store.Webhook
	Insert bool
	Digest DigestChange
	Audit  Entry
}

// Sender sends one message now, outside the delivery log (the delivery engine's Try).
type Sender interface {
	Try(ctx context.Context, wh *subscription.Compiled, m *notify.Message) (notify.Response, notify.Outcome, time.Duration)
}

// Compiled is where saved webhooks are found compiled (the subscription cache).
type Compiled interface {
	Refresh(ctx context.Context) error
	Get(id uuid.UUID) *subscription.Compiled
}

// Options tunes the service.
type Options struct {
	RedAfter           int           // consecutive failures that make a webhook red
	DefaultMaxAttempts int           // max_attempts shown when a webhook sets none
	RotationGrace      time.Duration // how long a rotated hmac secret or SMART key keeps signing
	PublicURL          string        // TASKHOOK_PUBLIC_URL: escalation needs it for its links
	// FilterErrors are the filter errors the consumer met (a webhook's health hint); may be nil.
	FilterErrors *subscription.FilterErrors
}

// Service creates, changes, deletes and tests webhooks.
type Service struct {
	Store    Store
	Codec    subscription.Codec // seals secrets and URLs for storage
	Compiler *subscription.Compiler
	Sender   Sender
	Compiled Compiled
	Log      *zap.Logger
	Options  Options
	Now      func() time.Time // nil: time.Now
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// List shows every webhook (one that cannot be shown is logged and left out).
func (s *Service) List(ctx context.Context) ([]*View, error) {
	rows, err := s.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	retrying, err := s.Store.Retrying(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*View, 0, len(rows))
	for i := range rows {
		v, err := s.view(&rows[i], retrying[rows[i].ID])
		if err != nil {
			s.Log.Error("webhook cannot be shown", zap.String("webhook_id", rows[i].ID.String()), zap.Error(err))
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// row reads one webhook's row; an unknown id is ErrNotFound.
func (s *Service) row(ctx context.Context, id uuid.UUID) (*store.WebhookWithHealth, error) {
	row, err := s.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("webhook", id)
	}
	return row, err
}

// Get shows one webhook.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*View, error) {
	row, err := s.row(ctx, id)
	if err != nil {
		return nil, err
	}
	retrying, err := s.Store.Retrying(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return s.view(row, retrying[id])
}

// Create validates and stores a new webhook for who. An hmac webhook without a secret gets a
// generated one, shown once in the returned view (Auth.GeneratedSecret); a smart_backend
// webhook without a key gets a generated key pair.
func (s *Service) Create(ctx context.Context, who string, in *Input) (*View, error) {
	w := &subscription.Webhook{ID: uuid.Must(uuid.NewV7()), Active: true}
	in.apply(w)
	if ps := append(parseDigest(in.Digest, w), parseTLS(in.TLS, w)...); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	if ps := subscription.ParseRepeatLimit(in.RepeatLimit, w); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	subscription.Normalize(w)
	generated := ""
	if w.Auth.Type == credential.HMAC && w.Auth.Secret == "" {
		w.Auth.Secret = credential.GenerateSecret()
		generated = w.Auth.Secret
	}
	if err := completeSMART(&w.Auth); err != nil {
		return nil, err
	}
	if ps, err := s.check(ctx, w, in); err != nil || len(ps) > 0 {
		return nil, invalidOr(ps, err)
	}
	row, err := s.Codec.ToRow(w)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Save(ctx, Save{Row: row, Insert: true, Digest: settleDigest(nil, w.Digest, location(w.Timezone), s.now()),
		Audit: Entry{Actor: who, Action: "webhook.create", Webhook: w.ID, Details: summary(s.Compiler, w)}}); err != nil {
		return nil, err
	}
	v, err := s.Get(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	v.Auth.GeneratedSecret = generated
	s.Log.Info("webhook created", zap.String("webhook_id", w.ID.String()), zap.String("provider", w.Provider), zap.String("who", who))
	return v, nil
}

// Update changes the fields present in in. An "auth" object replaces the credential, with two
// conveniences: an hmac secret may be omitted (a new one is generated and returned once) and,
// on a rotation, the previous secret keeps signing for the grace period (both signatures are
// sent, as Standard Webhooks allows); a smart_backend update may omit private_key_pem to keep
// the current key (a routing_key update its key, an smtp update for the same user its
// password; a "tls" object that repeats the stored certificate, the stored key). Re-activating clears the reason it was deactivated; what matched while it
// was inactive is delivered only by a replay. An update that changes nothing writes nothing.
func (s *Service) Update(ctx context.Context, who string, id uuid.UUID, in *Input) (*View, error) {
	row, err := s.row(ctx, id)
	if err != nil {
		return nil, err
	}
	old, err := s.Codec.FromRow(&row.Webhook)
	if err != nil {
		return nil, err
	}
	w := *old
	w.Events = append([]string(nil), old.Events...)
	prevAuth := old.Auth
	in.apply(&w)
	if ps := append(parseDigest(in.Digest, &w), parseTLS(in.TLS, &w)...); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	if ps := subscription.ParseRepeatLimit(in.RepeatLimit, &w); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	now := s.now()
	generated := ""
	if in.Auth != nil {
		if in.Auth.Type == "" {
			return nil, Invalid([]subscription.Problem{{Path: "/auth/type", Message: "is required when auth is given"}})
		}
		generated = mergeAuth(&w.Auth, prevAuth, now, s.Options.RotationGrace)
	}
	subscription.Normalize(&w)
	switch {
	case w.Active && !old.Active:
		w.DisabledReason, w.DisabledAt = "", time.Time{}
	case !w.Active && old.Active:
		w.DisabledReason, w.DisabledAt = "deactivated by "+who, now
	}
	if ps, err := s.check(ctx, &w, in); err != nil || len(ps) > 0 {
		return nil, invalidOr(ps, err)
	}
	changes := diff(s.Compiler, old, &w)
	if len(changes) == 0 {
		return s.Get(ctx, id)
	}
	r, err := s.Codec.ToRow(&w)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Save(ctx, Save{Row: r, Digest: settleDigest(old.Digest, w.Digest, location(w.Timezone), now),
		Audit: Entry{Actor: who, Action: "webhook.update", Webhook: id, Details: map[string]any{"changes": changes}}}); err != nil {
		return nil, err
	}
	v, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	v.Auth.GeneratedSecret = generated
	s.Log.Info("webhook updated", zap.String("webhook_id", id.String()), zap.String("who", who))
	return v, nil
}

// Delete removes a webhook (its deliveries and their attempts go with it).
func (s *Service) Delete(ctx context.Context, who string, id uuid.UUID) error {
	row, err := s.row(ctx, id)
	if err != nil {
		return err
	}
	err = s.Store.Delete(ctx, id, Entry{Actor: who, Action: "webhook.delete", Webhook: id,
		Details: map[string]any{"name": row.Name, "provider": row.Provider}})
	if errors.Is(err, store.ErrNotFound) {
		return NotFound("webhook", id)
	} else if err != nil {
		return err
	}
	s.Log.Info("webhook deleted", zap.String("webhook_id", id.String()), zap.String("who", who))
	return nil
}

// TestUnsaved sends a sample event (of type event, else the webhook's first) through a webhook
// body that is not saved. Nothing is stored but the audit entry.
func (s *Service) TestUnsaved(ctx context.Context, who string, in *Input, event string) (*TestResult, error) {
	w := &subscription.Webhook{ID: uuid.New(), Active: true}
	in.apply(w)
	if ps := parseTLS(in.TLS, w); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	subscription.Normalize(w)
	if w.Auth.Type == credential.HMAC && w.Auth.Secret == "" {
		w.Auth.Secret = credential.GenerateSecret() // signs the test; the caller has no use for it
	}
	if err := completeSMART(&w.Auth); err != nil {
		return nil, err
	}
	if ps := s.Compiler.Check(ctx, w); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	cw, err := s.Compiler.Compile(w)
	if err != nil {
		return nil, err
	}
	r, err := s.try(ctx, cw, event)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Audit(ctx, Entry{Actor: who, Action: "webhook.test", Details: map[string]any{"url": s.Compiler.SafeURL(w),
		"provider": w.Provider, "ok": r.OK, "status_code": r.StatusCode}}); err != nil {
		return nil, err
	}
	return r, nil
}

// TestSaved sends a sample event through a saved webhook (active or not).
func (s *Service) TestSaved(ctx context.Context, who string, id uuid.UUID, event string) (*TestResult, error) {
	if err := s.Compiled.Refresh(ctx); err != nil {
		return nil, err
	}
	w := s.Compiled.Get(id)
	if w == nil {
		return nil, NotFound("webhook", id)
	}
	r, err := s.try(ctx, w, event)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Audit(ctx, Entry{Actor: who, Action: "webhook.test", Webhook: id,
		Details: map[string]any{"ok": r.OK, "status_code": r.StatusCode}}); err != nil {
		return nil, err
	}
	s.Log.Info("webhook tested", zap.String("webhook_id", id.String()), zap.Bool("ok", r.OK), zap.String("who", who))
	return r, nil
}

// testSubject is the event type to send: the one asked for, else the webhook's first.
func (s *Service) testSubject(w *subscription.Compiled, asked string) (string, error) {
	cat := s.Compiler.Catalog
	if asked != "" {
		if !cat.IsType(asked) {
			return "", BadRequest("event must be one of %s, got %q", strings.Join(cat.TypeNames(), ", "), asked)
		}
		if _, f, _ := cat.Lookup(asked); !notify.Renders(w.Provider, f.Name) {
			return "", &Error{Kind: ErrUnprocessable, Message: fmt.Sprintf("provider %s does not render %s events (it renders: %s); choose another ?event=",
				w.Provider.Name(), f.Name, strings.Join(w.Provider.(notify.FamilyRenderer).Families(), ", "))}
		}
		return asked, nil
	}
	for _, t := range cat.TypeNames() {
		if w.Wants(t) {
			return t, nil
		}
	}
	return cat.TypeNames()[0], nil
}

// sampleEvent is the catalog's example of typ (the Canvas seed for tasks; no real patient)
// with a fresh event_id and occurred_at now.
func (s *Service) sampleEvent(typ string, now time.Time) ([]byte, error) {
	t, _, ok := s.Compiler.Catalog.Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("no example for %q", typ)
	}
	var doc map[string]any
	if err := json.Unmarshal(t.Example, &doc); err != nil {
		return nil, err
	}
	doc["event_id"] = "test-" + uuid.NewString()
	doc["occurred_at"] = now.UTC().Format(time.RFC3339)
	return json.Marshal(doc)
}

// try renders a sample event through the webhook's real provider, signs it and sends it now
// through the SSRF-safe client. Nothing is recorded as a delivery; nothing is retried.
func (s *Service) try(ctx context.Context, w *subscription.Compiled, asked string) (*TestResult, error) {
	subject, err := s.testSubject(w, asked)
	if err != nil {
		return nil, err
	}
	now := s.now()
	raw, err := s.sampleEvent(subject, now)
	if err != nil {
		return nil, err
	}
	msg := &notify.Message{DeliveryID: "test_" + uuid.NewString(), EventID: "test", Type: subject, Timestamp: now, Event: event.NewLazy(raw)}
	resp, out, took := s.Sender.Try(ctx, w, msg)
	r := &TestResult{OK: out.Result == notify.Success, DurationMS: took.Milliseconds(), ResponseExcerpt: string(resp.Body),
		WebhookID: msg.DeliveryID, EventType: subject}
	if resp.StatusCode != 0 {
		code := resp.StatusCode
		r.StatusCode = &code
	}
	if !r.OK {
		r.Error = out.Reason
	}
	return r, nil
}

// check validates w as it will be saved, with the body's escalation and fallback applied to it
// (checked against the other webhooks and TASKHOOK_PUBLIC_URL).
func (s *Service) check(ctx context.Context, w *subscription.Webhook, in *Input) ([]subscription.Problem, error) {
	ps := s.Compiler.Check(ctx, w)
	more, err := alerting(ctx, s.Store, in.Escalation, in.Fallback, w, s.Options.PublicURL)
	if err != nil {
		return nil, err
	}
	return append(ps, more...), nil
}

// invalidOr is err, or else an ErrInvalid of ps.
func invalidOr(ps []subscription.Problem, err error) error {
	if err != nil {
		return err
	}
	return Invalid(ps)
}
