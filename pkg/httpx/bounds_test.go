package httpx

import "testing"

func TestMatches(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"/v1/events", "/v1/events", true},
		{"/v1/events", "/v1/events/batch", false},
		{"/v1/webhooks/:id", "/v1/webhooks/abc", true},
		{"/v1/webhooks/:id", "/v1/webhooks/", false},
		{"/v1/webhooks/:id/test", "/v1/webhooks/abc/test", true},
		{"/v1/webhooks/:id/test", "/v1/webhooks/abc/replay", false},
	}
	for _, c := range cases {
		if got := matches(c.pattern, c.path); got != c.want {
			t.Errorf("matches(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, bad := range []string{"a\x00b", "\xff", "\xed\xa0\x80"} {
		if checkText(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"", "task-1", "é日本"} {
		if err := checkText(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	if CheckQuery("window=%00") == nil || CheckQuery("x=%ff") == nil || CheckQuery("%ff=1") == nil || CheckQuery("window=1h") != nil {
		t.Error("CheckQuery")
	}
}
