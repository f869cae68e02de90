package ui

import (
	"testing"
	"time"
)

func TestTestedForms(t *testing.T) {
	now := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	ts := newTestedForms()
	id := ts.put("session-a", formData{Name: "x"}, now)
	if d, ok := ts.get(id, "session-a", now.Add(time.Minute)); !ok || d.Name != "x" {
		t.Fatal("the session that tested cannot read its form")
	}
	if _, ok := ts.get(id, "session-a", now.Add(time.Minute)); !ok {
		t.Fatal("a second read (a reload) finds nothing")
	}
	if _, ok := ts.get(id, "session-b", now); ok {
		t.Fatal("another session read the form")
	}
	if _, ok := ts.get(id, "session-a", now.Add(testedTTL)); ok {
		t.Fatal("an expired form was read")
	}
	if _, ok := ts.get("made-up", "session-a", now); ok {
		t.Fatal("an unknown id was read")
	}
	for i := 0; i < maxTested+10; i++ {
		ts.put("s", formData{}, now)
	}
	if len(ts.m) != maxTested || len(ts.order) != maxTested {
		t.Fatalf("%d kept, want at most %d", len(ts.m), maxTested)
	}
	if _, ok := ts.get(id, "session-a", now); ok {
		t.Fatal("the oldest was not evicted")
	}
	// Expired entries go at the next put.
	ts.put("s", formData{}, now.Add(2*testedTTL))
	if len(ts.m) != 1 {
		t.Fatalf("%d kept after expiry, want 1", len(ts.m))
	}
}
