package webhooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/families"
)

// rulesStore keeps rows in memory for the tests of the service's rules alone (what is
// validated, generated, sealed, audited, and when nothing is written). It is not a database:
// how PostgreSQL stores, settles digest windows and audits in one transaction is tested against
// PostgreSQL (TestPGStore).
type rulesStore struct {
	rows   map[uuid.UUID]store.Webhook
	saves  []Save
	audits []Entry
}

func (m *rulesStore) List(context.Context) ([]store.WebhookWithHealth, error) {
	var out []store.WebhookWithHealth
	for _, r := range m.rows {
		out = append(out, store.WebhookWithHealth{Webhook: r})
	}
	return out, nil
}

func (m *rulesStore) Get(_ context.Context, id uuid.UUID) (*store.WebhookWithHealth, error) {
	r, ok := m.rows[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &store.WebhookWithHealth{Webhook: r}, nil
}

func (m *rulesStore) Retrying(context.Context, []uuid.UUID) (map[uuid.UUID]bool, error) {
	return map[uuid.UUID]bool{}, nil
}

func (m *rulesStore) Save(_ context.Context, s Save) error {
	m.saves = append(m.saves, s)
	m.audits = append(m.audits, s.Audit)
	m.rows[s.Row.ID] = *s.Row
	return nil
}

func (m *rulesStore) Delete(_ context.Context, id uuid.UUID, e Entry) error {
	if _, ok := m.rows[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.rows, id)
	m.audits = append(m.audits, e)
	return nil
}

func (m *rulesStore) Peers(context.Context) ([]store.WebhookPeer, error) {
	var out []store.WebhookPeer
	for _, r := range m.rows {
		out = append(out, store.WebhookPeer{ID: r.ID, Name: r.Name, Provider: r.Provider})
	}
	return out, nil
}

func (m *rulesStore) Audit(_ context.Context, e Entry) error {
	m.audits = append(m.audits, e)
	return nil
}

// httpsOnly is the URL policy of these tests: https to anything but "internal.test".
type httpsOnly struct{}

func (httpsOnly) CheckURL(_ context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "https" {
		return nil, errors.New("must be an absolute https URL")
	}
	if u.Hostname() == "internal.test" {
		return nil, errors.New("resolves to a private address")
	}
	return u, nil
}

func newService(t *testing.T, st Store) *Service {
	t.Helper()
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	filters, err := subscription.NewFilters()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	reg := providers.All(cat)
	return &Service{Store: st, Codec: subscription.Codec{Box: box, Providers: reg},
		Compiler: &subscription.Compiler{URLs: httpsOnly{}, Providers: reg, Catalog: cat, Filters: filters, DefaultMaxAttempts: 8,
			Credential: func(c credential.Config) (credential.Credential, error) {
				return credential.New(c, credential.Deps{}, nil)
			}},
		Log: zap.NewNop(), Options: Options{RedAfter: 5, DefaultMaxAttempts: 8, RotationGrace: 24 * time.Hour},
		Now: func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }}
}

func body(t *testing.T, s string) *Input {
	t.Helper()
	var in Input
	if err := Decode([]byte(s), &in); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return &in
}

// TestCreate: what a create validates (each refusal at its field's pointer), generates, seals
// and audits.
func TestCreate(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		paths  []string // ErrInvalid at these pointers; nil: created
		secret bool     // a generated secret is shown once
	}{
		{"generic, hmac without a secret", `{"name": "Ward 3", "url": "https://hooks.example/in?k=v", "provider": "generic", "auth": {"type": "hmac"}}`, nil, true},
		{"given secret is not shown", `{"name": "Ward 3", "url": "https://hooks.example/in", "provider": "generic", "auth": {"type": "hmac", "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"}}`, nil, false},
		{"no url", `{"name": "x", "provider": "generic"}`, []string{"/url"}, false},
		{"private address", `{"name": "x", "url": "https://internal.test/"}`, []string{"/url"}, false},
		{"bad digest", `{"name": "x", "url": "https://hooks.example/", "digest": {"daily_at": 8}}`, []string{"/digest/daily_at"}, false},
		{"bad filter", `{"name": "x", "url": "https://hooks.example/", "filter": "event.priority ==="}`, []string{"/filter"}, false},
		{"repeat limit", `{"name": "x", "url": "https://hooks.example/", "auth": {"type": "hmac"}, "repeat_limit": {"key": "event.device.id", "per": "24h"}}`, nil, true},
		{"repeat limit, bad period", `{"name": "x", "url": "https://hooks.example/", "repeat_limit": {"key": "event.device.id", "per": "100ms"}}`, []string{"/repeat_limit/per"}, false},
		{"repeat limit, unknown member", `{"name": "x", "url": "https://hooks.example/", "repeat_limit": {"key": "event.device.id", "per": "1h", "burst": 2}}`, []string{"/repeat_limit/burst"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &rulesStore{rows: map[uuid.UUID]store.Webhook{}}
			s := newService(t, st)
			in := body(t, tc.body)
			v, err := s.Create(context.Background(), "token:ab12", in)
			if tc.paths != nil {
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Create = %v, want ErrInvalid", err)
				}
				for _, p := range tc.paths {
					found := false
					for _, got := range e.Problems {
						found = found || got.Path == p
					}
					if !found {
						t.Errorf("no problem at %s: %+v", p, e.Problems)
					}
				}
				if len(st.saves) != 0 {
					t.Fatal("a refused webhook was written")
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if (v.Auth.GeneratedSecret != "") != tc.secret {
				t.Fatalf("generated secret shown: %q", v.Auth.GeneratedSecret)
			}
			if len(st.saves) != 1 || !st.saves[0].Insert {
				t.Fatalf("saves: %+v", st.saves)
			}
			row := st.saves[0].Row
			var sent map[string]any
			_ = json.Unmarshal(mustJSON(t, in), &sent)
			secret := v.Auth.GeneratedSecret
			if in.Auth != nil && in.Auth.Secret != "" {
				secret = in.Auth.Secret
			}
			if bytes.Contains(row.AuthSealed, []byte(secret)) || bytes.Contains(row.URLSealed, []byte(*in.URL)) {
				t.Fatal("the row holds the secret or the URL in the clear")
			}
			audit := string(mustJSON(t, st.audits[0].Details))
			if st.audits[0].Actor != "token:ab12" || st.audits[0].Action != "webhook.create" || strings.Contains(audit, secret) {
				t.Fatalf("audit entry %+v %s", st.audits[0], audit)
			}
			again, err := s.Get(context.Background(), v.ID)
			if err != nil || again.Auth.GeneratedSecret != "" {
				t.Fatalf("Get after create: %v, secret shown again: %q", err, again.Auth.GeneratedSecret)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpdate: what an update refuses, changes, rotates, and that an update changing nothing
// writes nothing.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		body   string
		check  func(t *testing.T, v *View, st *rulesStore)
		path   string // ErrInvalid at this pointer
		writes int
	}{
		{name: "nothing changed", body: `{"name": "Ward 3"}`, writes: 0},
		{name: "renamed", body: `{"name": "Ward 4"}`, writes: 1, check: func(t *testing.T, v *View, st *rulesStore) {
			ch := string(mustJSON(t, st.audits[len(st.audits)-1].Details))
			if v.Name != "Ward 4" || !strings.Contains(ch, `"name":{"from":"Ward 3","to":"Ward 4"}`) {
				t.Fatalf("%s: %s", v.Name, ch)
			}
		}},
		{name: "deactivated", body: `{"active": false}`, writes: 1, check: func(t *testing.T, v *View, _ *rulesStore) {
			if v.Active || v.DisabledReason != "deactivated by token:ab12" || v.DisabledAt == nil {
				t.Fatalf("active %v reason %q at %v", v.Active, v.DisabledReason, v.DisabledAt)
			}
		}},
		{name: "rotated", body: `{"auth": {"type": "hmac"}}`, writes: 1, check: func(t *testing.T, v *View, st *rulesStore) {
			ch := string(mustJSON(t, st.audits[len(st.audits)-1].Details))
			if v.Auth.GeneratedSecret == "" || strings.Contains(ch, v.Auth.GeneratedSecret) || !strings.Contains(ch, `"secret":"rotated"`) {
				t.Fatalf("rotation: secret %q, audit %s", v.Auth.GeneratedSecret, ch)
			}
		}},
		{name: "auth without type", body: `{"auth": {"secret": "x"}}`, path: "/auth/type"},
		{name: "bad url", body: `{"url": "http://hooks.example/"}`, path: "/url"},
		{name: "bad digest", body: `{"digest": "daily"}`, path: "/digest"},
		{name: "repeat limit set", body: `{"repeat_limit": {"key": "event.device.id", "per": "1h"}}`, writes: 1, check: func(t *testing.T, v *View, st *rulesStore) {
			ch := string(mustJSON(t, st.audits[len(st.audits)-1].Details))
			if v.RepeatLimit == nil || v.RepeatLimit.Key != "event.device.id" || v.RepeatLimit.Per != "1h" ||
				!strings.Contains(ch, `"repeat_limit":{"from":null,"to":{"key":"event.device.id","per":"1h"}}`) {
				t.Fatalf("view %+v, audit %s", v.RepeatLimit, ch)
			}
		}},
		{name: "repeat limit removed (none to remove)", body: `{"repeat_limit": null}`, writes: 0},
		{name: "repeat limit, bad key", body: `{"repeat_limit": {"key": "event.device.id ==", "per": "1h"}}`, path: "/repeat_limit/key"},
		{name: "repeat limit, not an object", body: `{"repeat_limit": "daily"}`, path: "/repeat_limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &rulesStore{rows: map[uuid.UUID]store.Webhook{}}
			s := newService(t, st)
			created, err := s.Create(ctx, "token:ab12", body(t, `{"name": "Ward 3", "url": "https://hooks.example/in", "provider": "generic", "auth": {"type": "hmac"}}`))
			if err != nil {
				t.Fatal(err)
			}
			st.saves = nil
			v, err := s.Update(ctx, "token:ab12", created.ID, body(t, tc.body))
			if tc.path != "" {
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || len(e.Problems) == 0 || e.Problems[0].Path != tc.path {
					t.Fatalf("Update = %v, want ErrInvalid at %s", err, tc.path)
				}
				if len(st.saves) != 0 {
					t.Fatal("a refused update was written")
				}
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if len(st.saves) != tc.writes {
				t.Fatalf("%d writes, want %d", len(st.saves), tc.writes)
			}
			if tc.check != nil {
				tc.check(t, v, st)
			}
		})
	}
}

// TestNotFound: every way to name a webhook that does not exist is ErrNotFound, with the
// message the admin API answers.
func TestNotFound(t *testing.T) {
	ctx := context.Background()
	s := newService(t, &rulesStore{rows: map[uuid.UUID]store.Webhook{}})
	id := uuid.New()
	want := "no webhook with id " + id.String()
	_, errGet := s.Get(ctx, id)
	_, errUpdate := s.Update(ctx, "a", id, body(t, `{"name": "x"}`))
	errDelete := s.Delete(ctx, "a", id)
	for i, err := range []error{errGet, errUpdate, errDelete} {
		if !errors.Is(err, ErrNotFound) || err.Error() != want {
			t.Errorf("call %d: %v, want %q", i, err, want)
		}
	}
}
