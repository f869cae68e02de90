package subscription

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/providers"
	"github.com/taskhook/taskhook/dispatcher/internal/secretbox"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/families"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/report"
	"github.com/taskhook/taskhook/pkg/pgtest"
)

// httpsOnly is a URL policy for these tests: https to anything but "internal.test".
type httpsOnly struct{}

func (httpsOnly) CheckURL(_ context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("is not an absolute URL")
	}
	if u.Scheme != "https" {
		return nil, errors.New("must use https")
	}
	if u.Hostname() == "internal.test" {
		return nil, errors.New("resolves to a private address")
	}
	return u, nil
}

func compiler(t *testing.T) *Compiler {
	f, err := NewFilters()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return &Compiler{URLs: httpsOnly{}, Providers: providers.All(cat), Catalog: cat, Filters: f, DefaultMaxAttempts: 8,
		Credential: func(c credential.Config) (credential.Credential, error) {
			return credential.New(c, credential.Deps{}, nil)
		}}
}

func valid() *Webhook {
	w := &Webhook{ID: uuid.New(), Name: "Cardiology alerts", URL: "https://example.com/hook", Active: true}
	Normalize(w)
	return w
}

func TestCheck(t *testing.T) {
	c := compiler(t)
	if ps := c.Check(context.Background(), valid()); len(ps) != 0 {
		t.Fatalf("valid webhook rejected: %+v", ps)
	}
	cases := []struct {
		name   string
		mutate func(*Webhook)
		path   string
	}{
		{"no name", func(w *Webhook) { w.Name = " " }, "/name"},
		{"http", func(w *Webhook) { w.URL = "http://example.com" }, "/url"},
		{"private", func(w *Webhook) { w.URL = "https://internal.test/x" }, "/url"},
		{"malformed url", func(w *Webhook) { w.URL = "::nope" }, "/url"},
		{"provider", func(w *Webhook) { w.Provider = "pager" }, "/provider"},
		{"event", func(w *Webhook) { w.Events = []string{"task.created", "task.deleted"} }, "/events/1"},
		{"no events", func(w *Webhook) { w.Events = []string{} }, "/events"},
		{"filter syntax", func(w *Webhook) { w.Filter = "event.title ==" }, "/filter"},
		{"filter not bool", func(w *Webhook) { w.Filter = `"yes"` }, "/filter"},
		{"template", func(w *Webhook) { w.Template = "{{ .event.title " }, "/template"},
		{"template func", func(w *Webhook) { w.Template = `{{ nosuch .event }}` }, "/template"},
		{"timezone", func(w *Webhook) { w.Timezone = "Mars/Olympus" }, "/timezone"},
		{"attempts", func(w *Webhook) { w.MaxAttempts = 99 }, "/max_attempts"},
		{"rate", func(w *Webhook) { w.RateLimitPerSecond = -1 }, "/rate_limit_per_second"},
		{"auth type", func(w *Webhook) { w.Auth.Type = "kerberos" }, "/auth/type"},
		{"bearer without token", func(w *Webhook) { w.Auth.Type = "bearer" }, "/auth/token"},
		{"bad hmac secret", func(w *Webhook) { w.Auth = credential.Config{Type: "hmac", Secret: "hunter2"} }, "/auth/secret"},
		{"secret for bearer", func(w *Webhook) { w.Auth = credential.Config{Type: "bearer", Token: "t", Secret: "x"} }, "/auth/secret"},
		{"smart missing fields", func(w *Webhook) { w.Auth = credential.Config{Type: "smart_backend", ClientID: "c"} }, "/auth/key_id"},
		{"options", func(w *Webhook) { w.Options = json.RawMessage(`{"x":1}`) }, "/options/x"},
	}
	for _, tc := range cases {
		w := valid()
		tc.mutate(w)
		ps := c.Check(context.Background(), w)
		found := false
		for _, p := range ps {
			found = found || p.Path == tc.path
			if p.Message == "" {
				t.Errorf("%s: empty message", tc.name)
			}
		}
		if !found {
			t.Errorf("%s: no problem at %s: %+v", tc.name, tc.path, ps)
		}
	}
}

func TestFilterSemantics(t *testing.T) {
	f, _ := NewFilters()
	ev := map[string]any{"task_id": "1", "title": "Call", "assignee": map[string]any{"staff": nil, "team": map[string]any{"id": "t", "name": "Cardiology"}}, "patient": nil}
	cases := map[string]bool{
		`event.assignee.team.name == "Cardiology" && type != "task.updated"`: true,
		`event.assignee.team.name == "Oncology"`:                             false,
		`event.patient.first_name == "John"`:                                 false, // null in the path
		`event.creator.id == "1"`:                                            false, // absent field
		`event.nosuch.deeper.still == 3`:                                     false,
		`!has(event.creator)`:                                                true,
		`event.title.startsWith("Ca")`:                                       true,
		`event.task_id > 5`:                                                  false, // type error is false
	}
	for expr, want := range cases {
		flt, err := f.Compile(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := flt.Match("task.created", ev); got != want {
			t.Errorf("%s = %v, want %v", expr, got, want)
		}
	}
	flt, _ := f.Compile(`type == "task.due"`)
	if flt.Match("task.created", ev) || !flt.Match("task.due", ev) {
		t.Error("type not bound")
	}
}

func TestCompileSubjects(t *testing.T) {
	c := compiler(t)
	w := valid()
	w.Events = []string{"task.due", "task.overdue"}
	cw, err := c.Compile(w)
	if err != nil {
		t.Fatal(err)
	}
	if !cw.Wants("task.due") || cw.Wants("task.created") || cw.MaxAttempts != 8 || cw.HasFilter() {
		t.Fatalf("%+v", cw)
	}
	w.Events = []string{DefaultEvents}
	cw, _ = c.Compile(w)
	for _, s := range []string{"task.created", "task.updated", "task.due", "task.overdue"} {
		if !cw.Wants(s) {
			t.Errorf("task.* does not want %s", s)
		}
	}
	if cw.Wants("battery.critical") || cw.Wants("report.completed") {
		t.Error("task.* wants other families")
	}
}

// TestEventPatterns: each type, <family>.* and * are accepted and expand as they say; anything
// else is a 422 naming what is accepted.
func TestEventPatterns(t *testing.T) {
	c := compiler(t)
	cases := []struct {
		events   []string
		provider string
		wants    []string
		not      []string
		problem  string // "" when valid
	}{
		{events: []string{"*"}, wants: []string{"task.created", "report.completed", "battery.low", "battery.critical"},
			not: []string{"webhook.disabled", "webhook.health_changed", "delivery.exhausted", "delivery.recovered"}},
		{events: []string{"webhook.*", "delivery.exhausted"}, provider: "slack", wants: []string{"webhook.disabled", "webhook.health_changed", "delivery.exhausted"},
			not: []string{"delivery.recovered", "task.created"}},
		{events: []string{"delivery.*"}, wants: []string{"delivery.exhausted", "delivery.recovered"}, not: []string{"webhook.disabled"}},
		{events: []string{"webhook.disabled"}, provider: "fhir", problem: "/events/0: provider fhir does not render webhook events"},
		{events: []string{"task.*", "delivery.*"}, provider: "fhir", problem: "/events/1: provider fhir does not render delivery events"},
		{events: []string{"battery.*"}, wants: []string{"battery.low", "battery.critical"}, not: []string{"task.created", "report.created"}},
		{events: []string{"report.completed", "battery.critical"}, wants: []string{"report.completed", "battery.critical"}, not: []string{"report.created", "battery.low"}},
		{events: []string{"*"}, provider: "fhir", wants: []string{"task.due", "report.created", "battery.low"}},
		{events: []string{"battery.dead"}, problem: `/events/0: unknown event type "battery.dead"; one of: *, task.*, report.*, battery.*, webhook.*, delivery.*, task.created`},
		{events: []string{"task.created", "tasks.*"}, problem: `/events/1: unknown event type "tasks.*"`},
		{events: []string{"report"}, problem: `/events/0: unknown event type "report"`},
		{events: []string{}, problem: "/events: must list at least one event type"},
	}
	for _, k := range cases {
		w := valid()
		w.Events = k.events
		if k.provider == "fhir" {
			w.Provider, w.URL = k.provider, "https://fhir.example.org/r4"
		} else if k.provider != "" {
			w.Provider, w.URL = k.provider, "https://hooks.slack.com/services/T1/B1/x"
		}
		ps := c.Check(context.Background(), w)
		if k.problem != "" {
			if len(ps) != 1 || !strings.HasPrefix(ps[0].Path+": "+ps[0].Message, k.problem) {
				t.Errorf("%v: problems %+v, want %q", k.events, ps, k.problem)
			}
			continue
		}
		if len(ps) != 0 {
			t.Errorf("%v: %+v", k.events, ps)
			continue
		}
		cw, err := c.Compile(w)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range k.wants {
			if !cw.Wants(s) {
				t.Errorf("%v does not want %s", k.events, s)
			}
		}
		for _, s := range k.not {
			if cw.Wants(s) {
				t.Errorf("%v wants %s", k.events, s)
			}
		}
	}
}

// TestFiltersSeeTheWholeBody: CEL reaches every family's fields (battery percent as a number,
// device kind, nested report fields), and a field the event lacks is false, not an error.
func TestFiltersSeeTheWholeBody(t *testing.T) {
	f, err := NewFilters()
	if err != nil {
		t.Fatal(err)
	}
	doc := func(raw string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	critical := doc(battery.Example)
	low := doc(`{"type":"battery.low","device":{"id":"D-1","kind":"icd"},"battery":{"percent":17.5}}`)
	completed := doc(report.Example)
	cases := []struct {
		expr  string
		ev    map[string]any
		typ   string
		match bool
	}{
		{"event.battery.percent < 10", critical, "battery.critical", true},
		{"event.battery.percent < 10", low, "battery.low", false},
		{`event.battery.percent < 20.0 && event.device.kind == "icd"`, low, "battery.low", true},
		{`event.device.kind == "icd"`, critical, "battery.critical", false},
		{"event.battery.remaining_months <= 3", critical, "battery.critical", true},
		{"event.battery.percent < 10", completed, "report.completed", false}, // no battery: false, never an error
		{`type.startsWith("report.") && event.device.manufacturer == "Medtronic"`, completed, "report.completed", true},
		{`event.status == "final"`, completed, "report.completed", true},
	}
	for _, k := range cases {
		flt, err := f.Compile(k.expr)
		if err != nil {
			t.Fatalf("%s: %v", k.expr, err)
		}
		if got := flt.Match(k.typ, k.ev); got != k.match {
			t.Errorf("%s on %s: %v, want %v", k.expr, k.typ, got, k.match)
		}
	}
}

func TestURLHintMasksChatURLs(t *testing.T) {
	slack := "https://hooks.slack.com/services/T000/B000/XXXXsecretYYYY"
	reg := compiler(t).Providers
	if h := reg.URLHint("slack", slack); strings.Contains(h, "secret") || !strings.HasPrefix(h, "https://hooks.slack.com/") || !strings.HasSuffix(h, "YYYY") {
		t.Errorf("slack hint %q", h)
	}
	if h := reg.URLHint("teams", "https://prod.westus.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=SECRETsig"); strings.Contains(h, "SECRET") {
		t.Errorf("teams hint %q", h)
	}
	if h := reg.URLHint("generic", "https://example.com/a"); h != "https://example.com/a" {
		t.Errorf("generic hint %q", h)
	}
}

func TestCodecSealsAndCacheFollowsGeneration(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.NewDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := secretbox.New(key)
	codec := Codec{Box: box, Providers: compiler(t).Providers}
	cache := NewCache(db, codec, compiler(t), zap.NewNop())
	if err := cache.Refresh(ctx); err != nil || len(cache.Subscribed("task.created")) != 0 {
		t.Fatal(err)
	}
	w := valid()
	w.URL = "https://example.com/hook?token=url-secret-123"
	w.Auth = credential.Config{Type: "hmac", Secret: credential.GenerateSecret()}
	row, err := codec.ToRow(w)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(row.URLSealed), "url-secret") || strings.Contains(string(row.AuthSealed), w.Auth.Secret) {
		t.Fatal("plaintext in sealed columns")
	}
	if err := store.InsertWebhook(ctx, db, row); err != nil {
		t.Fatal(err)
	}
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got := cache.Get(w.ID)
	if got == nil || got.URL != w.URL || got.Auth.Secret != w.Auth.Secret || len(cache.Subscribed("task.due")) != 1 {
		t.Fatalf("cache after insert: %+v", got)
	}
	// Deactivating (another replica, say) is seen at the next refresh.
	if _, err := db.Exec(`UPDATE webhooks SET active = false, updated_at = now() WHERE id = $1`, w.ID); err != nil {
		t.Fatal(err)
	}
	_ = cache.Refresh(ctx)
	if len(cache.Subscribed("task.due")) != 0 || cache.Get(w.ID) == nil || cache.Get(w.ID).Active {
		t.Fatal("inactive webhook still subscribed")
	}
	// A row sealed under another key cannot be loaded, and does not stop the others.
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)
	otherBox, _ := secretbox.New(otherKey)
	w2 := valid()
	row2, _ := Codec{Box: otherBox}.ToRow(w2)
	_ = store.InsertWebhook(ctx, db, row2)
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if cache.Get(w2.ID) != nil || cache.Get(w.ID) == nil {
		t.Fatal("unloadable row handled wrongly")
	}
}

func TestSafeURLKeepsNoToken(t *testing.T) {
	for raw, want := range map[string]string{
		"https://example.com/hook?token=abc123":          "https://example.com/hook?…",
		"https://example.com/a/b":                        "https://example.com/a/b",
		"https://hooks.slack.com/services/T0/B0/SECRETX": "",
	} {
		provider := "generic"
		if strings.Contains(raw, "slack") {
			provider = "slack"
		}
		got := compiler(t).Providers.SafeURL(provider, raw)
		if strings.Contains(got, "abc123") || strings.Contains(got, "SECRET") || (want != "" && got != want) {
			t.Errorf("%s: %q", raw, got)
		}
	}
}
