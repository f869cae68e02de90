package deploy

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// knownMetrics are the metric names the services define (read from their metrics packages),
// with the series a histogram adds, and `up`.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{"up": true}
	name := regexp.MustCompile(`Name: +"(taskhook_[a-z0-9_]+)"`)
	for _, f := range []string{"ingest/internal/metrics/metrics.go", "dispatcher/internal/metrics/metrics.go"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllSubmatch(b, -1) {
			n := string(m[1])
			out[n] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				out[n+suffix] = true
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("found only %d metric names", len(out))
	}
	return out
}

// metricsOf parses expr and returns the metric names it selects.
func metricsOf(t *testing.T, p parser.Parser, expr string) []string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Errorf("does not parse: %v\n%s", err, expr)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// anchors are the GitHub-style anchors of a markdown file's headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimLeft(h, "# ")
			out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")] = true
		}
	}
	return out
}

func TestAlertRules(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(filepath.Join(root, "deploy/prometheus/alerts.yml"), false, model.UTF8Validation, p, slog.Default())
	if len(errs) > 0 {
		t.Fatalf("alerts.yml: %v", errs)
	}
	known := knownMetrics(t)
	heads := anchors(t, "docs/runbook.md")
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				t.Errorf("recording rule %q: the file holds alerts only", r.Record)
				continue
			}
			seen[name] = true
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", name, sev)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			if !heads[anchor] || anchor != strings.ToLower(name) {
				t.Errorf("%s: runbook_url anchor %q is not its heading in docs/runbook.md", name, anchor)
			}
			for _, m := range metricsOf(t, p, r.Expr) {
				if !known[m] {
					t.Errorf("%s: unknown metric %s", name, m)
				}
			}
		}
	}
	for _, want := range []string{"TaskhookRetryBacklogGrowing", "TaskhookOldestDeliveryTooOld", "TaskhookWebhookDisabled", "TaskhookDeliveriesFailing",
		"TaskhookConsumerLagging", "TaskhookIngestErrors", "TaskhookPublishLatencyHigh"} {
		if !seen[want] {
			t.Errorf("alert %s missing", want)
		}
	}
	// Every runbook section (but the triage one) belongs to an alert.
	for a := range heads {
		if strings.HasPrefix(a, "taskhook") && a != "taskhook-runbook" && !seen[alertNamed(seen, a)] {
			t.Errorf("runbook section %s has no alert", a)
		}
	}
}

func alertNamed(seen map[string]bool, anchor string) string {
	for n := range seen {
		if strings.ToLower(n) == anchor {
			return n
		}
	}
	return ""
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/grafana/taskhook.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string  `json:"title"`
		Type    string  `json:"type"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("taskhook.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 38 || len(d.Panels) == 0 {
		t.Fatalf("dashboard header: %+v", d)
	}
	p := parser.NewParser(parser.Options{})
	known := knownMetrics(t)
	used := map[string]bool{}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "${__range}", "1h")
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, pn := range ps {
			walk(pn.Panels)
			if pn.Type != "row" && len(pn.Targets) == 0 {
				t.Errorf("panel %q has no query", pn.Title)
			}
			for _, tg := range pn.Targets {
				for _, m := range metricsOf(t, p, vars.Replace(tg.Expr)) {
					if !known[m] {
						t.Errorf("panel %q: unknown metric %s", pn.Title, m)
					}
					used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
				}
			}
		}
	}
	walk(d.Panels)
	var missing []string
	for _, m := range []string{"taskhook_ingest_events_total", "taskhook_ingest_publish_duration_seconds", "taskhook_dispatch_deliveries_total",
		"taskhook_dispatch_attempts_total", "taskhook_dispatch_attempt_duration_seconds", "taskhook_dispatch_retries_total",
		"taskhook_dispatch_retry_backlog", "taskhook_dispatch_retry_oldest_age_seconds", "taskhook_dispatch_consumer_pending",
		"taskhook_dispatch_webhooks_disabled_total", "taskhook_dispatch_store_errors_total", "taskhook_dispatch_poison_messages_total"} {
		if !used[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics without a panel: %v", missing)
	}
}
