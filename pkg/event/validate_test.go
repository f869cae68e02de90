package event_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families"
)

func seed(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/seed-task-created.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newValidator(t testing.TB) *event.Catalog {
	t.Helper()
	v, err := families.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fixedID() string { return "generated-1" }

func TestValidateSeedFillsEventID(t *testing.T) {
	v := newValidator(t)
	got, err := v.Validate(seed(t), "", fixedID)
	if err != nil {
		t.Fatalf("seed event rejected: %v", err)
	}
	if got.ID != "generated-1" || got.HadID || got.Subject != "task.created" {
		t.Fatalf("got %+v", got)
	}
	task, err := event.Parse(got.Body)
	if err != nil {
		t.Fatalf("published body does not parse: %v\n%s", err, got.Body)
	}
	if task.EventID != "generated-1" || task.TaskID != "12345" || task.Patient.BirthDate != "1980-05-15" ||
		task.Assignee.Staff.FullName() != "Nurse Johnson" || task.Assignee.Team != nil {
		t.Fatalf("parsed %+v", task)
	}
	if task.DueDate == nil || task.DueDate.Format("2006-01-02T15:04") != "2024-01-15T10:00" {
		t.Fatalf("due date %v", task.DueDate)
	}
	// The rest of the body is untouched.
	var before, after map[string]any
	_ = json.Unmarshal(seed(t), &before)
	_ = json.Unmarshal(got.Body, &after)
	delete(after, "event_id")
	if b1, _ := json.Marshal(before); string(b1) != mustJSON(after) {
		t.Fatalf("body changed beyond event_id:\n%s\n%s", b1, mustJSON(after))
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestValidateIDPrecedence(t *testing.T) {
	v := newValidator(t)
	got, err := v.Validate(seed(t), "key-7", fixedID)
	if err != nil || got.ID != "key-7" {
		t.Fatalf("idempotency key not used: %+v %v", got, err)
	}
	withID := []byte(`{"event_id":"evt-1","task_id":"1","event":"due","title":"x"}`)
	got, err = v.Validate(withID, "key-7", fixedID)
	if err != nil || got.ID != "evt-1" || !got.HadID || string(got.Body) != string(withID) || got.Subject != "task.due" {
		t.Fatalf("body event_id must win and the body stay as sent: %+v %v", got, err)
	}
}

func TestValidateRejects(t *testing.T) {
	v := newValidator(t)
	cases := []struct {
		name, body string
		malformed  bool
		paths      []string
		msg        string // substring of the first detail's message
	}{
		{name: "not json", body: `{"task_id":`, malformed: true},
		{name: "two values", body: `{} {}`, malformed: true},
		{name: "empty", body: ``, malformed: true},
		{name: "array", body: `[]`, paths: []string{""}, msg: "object"},
		{name: "missing required", body: `{"event":"created"}`, paths: []string{"/task_id", "/title"}, msg: "required"},
		{name: "unknown top-level field", body: `{"task_id":"1","event":"created","title":"t","titel":"x"}`, paths: []string{"/titel"}, msg: "unknown field"},
		{name: "wrong event", body: `{"task_id":"1","event":"deleted","title":"t"}`, paths: []string{"/event"}, msg: "created"},
		{name: "bad due date", body: `{"task_id":"1","event":"created","title":"t","due_date":"2024-01-15 10:00"}`, paths: []string{"/due_date"}, msg: "date-time"},
		{name: "bad birth date", body: `{"task_id":"1","event":"created","title":"t","patient":{"id":"p","birth_date":"05/15/1980"}}`, paths: []string{"/patient/birth_date"}, msg: "date"},
		{name: "impossible date", body: `{"task_id":"1","event":"created","title":"t","patient":{"id":"p","birth_date":"1980-02-30"}}`, paths: []string{"/patient/birth_date"}},
		{name: "patient without id", body: `{"task_id":"1","event":"created","title":"t","patient":{"first_name":"J"}}`, paths: []string{"/patient/id"}, msg: "required"},
		{name: "team without id", body: `{"task_id":"1","event":"created","title":"t","assignee":{"team":{"name":"Cardiology"}}}`, paths: []string{"/assignee/team/id"}},
		{name: "numeric task id", body: `{"task_id":12345,"event":"created","title":"t"}`, paths: []string{"/task_id"}, msg: "string"},
		{name: "bad status", body: `{"task_id":"1","event":"created","title":"t","status":"done"}`, paths: []string{"/status"}},
		{name: "empty title", body: `{"task_id":"1","event":"created","title":""}`, paths: []string{"/title"}},
		{name: "event id with space", body: `{"event_id":"a b","task_id":"1","event":"created","title":"t"}`, paths: []string{"/event_id"}},
		{name: "pointer escaping", body: `{"task_id":"1","event":"created","title":"t","a/b~c":1}`, paths: []string{"/a~1b~0c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Validate([]byte(c.body), "", fixedID)
			var me *event.MalformedError
			var ie *event.InvalidError
			switch {
			case c.malformed:
				if !errors.As(err, &me) {
					t.Fatalf("want event.MalformedError, got %v", err)
				}
			case !errors.As(err, &ie):
				t.Fatalf("want event.InvalidError, got %v", err)
			default:
				var paths []string
				for _, d := range ie.Details {
					paths = append(paths, d.Path)
					if d.Message == "" {
						t.Errorf("empty message at %q", d.Path)
					}
				}
				if strings.Join(paths, ",") != strings.Join(c.paths, ",") {
					t.Fatalf("paths %q, want %q (%v)", paths, c.paths, ie)
				}
				if c.msg != "" && !strings.Contains(ie.Details[0].Message, c.msg) {
					t.Fatalf("message %q does not mention %q", ie.Details[0].Message, c.msg)
				}
			}
		})
	}
}

func TestValidateAcceptsNullsAndNestedExtras(t *testing.T) {
	v := newValidator(t)
	body := `{"task_id":"1","event":"overdue","title":"t","due_date":null,"occurred_at":"2024-01-10T09:00:00+01:00",
	  "status":"completed","patient":null,"creator":null,"assignee":{"staff":null,"team":{"id":"t1","name":"Cardiology","extra":1}}}`
	got, err := v.Validate([]byte(body), "", fixedID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := event.Parse(got.Body)
	if err != nil || task.Assignee.Team.Name != "Cardiology" || task.Patient != nil || task.DueDate != nil {
		t.Fatalf("%+v %v", task, err)
	}
}

func TestValidIDKey(t *testing.T) {
	for k, want := range map[string]bool{"": false, "abc-123": true, "a b": false, strings.Repeat("x", 128): true, strings.Repeat("x", 129): false, "é": false} {
		if event.ValidIDKey(k) != want {
			t.Errorf("event.ValidIDKey(%q) != %v", k, want)
		}
	}
}

func TestSplitArray(t *testing.T) {
	body := []byte(" [ {\"a\": [1, {\"b\": \"]\"}]} ,\n\"x\" ,null, {} ] \n")
	items, err := event.SplitArray(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a": [1, {"b": "]"}]}`, `"x"`, `null`, `{}`}
	if len(items) != len(want) {
		t.Fatalf("%d items", len(items))
	}
	for i, w := range want {
		if string(items[i].Raw) != w {
			t.Errorf("item %d raw %q, want %q", i, items[i].Raw, w)
		}
	}
	if items[1].Doc != "x" || items[2].Doc != nil {
		t.Errorf("docs %#v", items)
	}
	if items, err := event.SplitArray([]byte(`[]`)); err != nil || len(items) != 0 {
		t.Errorf("empty array: %v %v", items, err)
	}
	for body, wantErr := range map[string]string{
		`{"task_id":"1"}`: "an object", `null`: "null", `"s"`: "a string", `3`: "a number",
	} {
		var na *event.NotArrayError
		if _, err := event.SplitArray([]byte(body)); !errors.As(err, &na) || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v", body, err)
		}
	}
	for _, body := range []string{`[{"a":}]`, `[1,]`, `[1] [2]`, `[1`, ``, `{"a":`, `[1] x`} {
		var me *event.MalformedError
		if _, err := event.SplitArray([]byte(body)); !errors.As(err, &me) {
			t.Errorf("%q: want event.MalformedError, got %v", body, err)
		}
	}
}

// FuzzSplitArray: no input panics, and every element's bytes decode to the element's value.
func FuzzSplitArray(f *testing.F) {
	f.Add([]byte(`[{"task_id":"1","event":"created","title":"t"}, "x", [1,2], {"a":{"b":null}}]`))
	f.Add([]byte(` [ ] `))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := event.SplitArray(body)
		if err != nil {
			return
		}
		for i, it := range items {
			doc, err := event.Decode(it.Raw)
			if err != nil {
				t.Fatalf("item %d bytes %q do not decode: %v", i, it.Raw, err)
			}
			if mustJSON(doc) != mustJSON(it.Doc) {
				t.Fatalf("item %d: bytes %q decode to %v, split gave %v", i, it.Raw, doc, it.Doc)
			}
		}
	})
}
