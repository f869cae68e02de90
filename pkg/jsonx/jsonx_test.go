package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		body, path, msg string // path "" and msg "": no problem
	}{
		{`{"a":1,"b":{"c":[1,{"d":"x"}]}}`, "", ""},
		{`{"title":{"x":1},"title":"ok"}`, "/title", "twice"},
		{`{"a":{"k":1,"k":2}}`, "/a/k", "twice"},
		{`{"a":[{"x":1},{"x":1,"y":2,"x":3}]}`, "/a/1/x", "twice"},
		{`{"t\u0069tle":1,"title":2}`, "/title", "twice"},
		{`{"a\\b":1,"a\\b":2}`, "/a\\b", "twice"},
		{`{"a/b":1,"a/b":2}`, "/a~1b", "twice"},
		{`{"title":"a\ud800b"}`, "/title", "lone UTF-16 surrogate"},
		{`{"title":"a\udc00"}`, "/title", "lone UTF-16 surrogate"},
		{`{"title":"\ud83d\ude00 ok"}`, "", ""},
		{`{"title":"a\ud83d\u0041"}`, "/title", "lone"},
		{"{\"title\":\"caf\xe9\"}", "/title", "UTF-8"},
		{`{"name":"a\u0000b"}`, "/name", "NUL"},
		{`["x",{"k":"\u00e9\n\t\"\\"}]`, "", ""},
		{`"plain"`, "", ""},
		{`[1,2.5e3,true,false,null]`, "", ""},
	}
	for _, c := range cases {
		if !json.Valid([]byte(c.body)) {
			t.Fatalf("test body not JSON: %s", c.body)
		}
		err := Check([]byte(c.body))
		switch {
		case c.path == "" && c.msg == "":
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
			}
		case err == nil:
			t.Errorf("%s: no problem found, want %s %s", c.body, c.path, c.msg)
		case err.Path != c.path || !strings.Contains(err.Message, c.msg):
			t.Errorf("%s: %s %q, want %s %q", c.body, err.Path, err.Message, c.path, c.msg)
		}
	}
}

func TestManyKeys(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; i < 5000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"k` + itoa(i) + `":1`)
	}
	body := sb.String() + `}`
	if err := Check([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := Check([]byte(body[:len(body)-1] + `,"k17":2}`)); err == nil || err.Path != "/k17" {
		t.Fatalf("duplicate among 5000 keys: %v", err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// FuzzCheck: no valid JSON panics Check, and what Check accepts decodes to the same value that a
// re-encoding of it decodes to (no duplicate key or invalid text was let through).
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[{"a":2}]}`))
	f.Add([]byte(`{"x":"\ud800"}`))
	f.Add([]byte(`{"x":1,"x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if Check(b) != nil {
			return
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return // valid JSON Go cannot hold (a number out of float64's range): refused elsewhere
		}
		again, _ := json.Marshal(v)
		if strings.ContainsRune(string(again), utf8.RuneError) && !strings.ContainsRune(string(b), utf8.RuneError) &&
			!strings.Contains(strings.ToLower(string(b)), `\ufffd`) {
			t.Fatalf("accepted text that decodes to U+FFFD: %q", b)
		}
	})
}

func BenchmarkCheckSeed(b *testing.B) {
	body := []byte(`{"task_id":"12345","event":"created","title":"Follow up with patient","due_date":"2024-01-15T10:00:00Z",` +
		`"patient":{"id":"67890","first_name":"John","last_name":"Doe","birth_date":"1980-05-15","sex_at_birth":"Male"},` +
		`"creator":{"id":"11111","first_name":"Dr. Jane","last_name":"Smith"},` +
		`"assignee":{"staff":{"id":"22222","first_name":"Nurse","last_name":"Johnson"},"team":null}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := Check(body); err != nil {
			b.Fatal(err)
		}
	}
}
