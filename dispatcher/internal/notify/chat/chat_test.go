package chat

import "testing"

func TestTruncate(t *testing.T) {
	if Truncate("abc", 3) != "abc" || Truncate("abcdef", 4) != "abc…" || Truncate("äöü", 2) != "ä…" {
		t.Fatal("truncate")
	}
}
