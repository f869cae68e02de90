package secretbox

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func newBox(t *testing.T) *Box {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	b, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := newBox(t)
	pt := []byte(`{"patient":{"first_name":"John"}}`)
	s1, s2 := b.Seal(pt, []byte("evt-1")), b.Seal(pt, []byte("evt-1"))
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of the same plaintext are equal: nonce reuse")
	}
	if bytes.Contains(s1, []byte("John")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	got, err := b.Open(s1, []byte("evt-1"))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("%s %v", got, err)
	}
	if _, err := b.Open(s1, []byte("evt-2")); !errors.Is(err, ErrOpen) {
		t.Fatal("opened under another row's associated data")
	}
	s1[len(s1)-1] ^= 1
	if _, err := b.Open(s1, []byte("evt-1")); !errors.Is(err, ErrOpen) {
		t.Fatal("tampered ciphertext opened")
	}
	if _, err := newBox(t).Open(s2, []byte("evt-1")); !errors.Is(err, ErrOpen) {
		t.Fatal("opened under another key")
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0, 0}} {
		if _, err := b.Open(bad, nil); !errors.Is(err, ErrOpen) {
			t.Fatalf("opened %v", bad)
		}
	}
}

func TestParseKey(t *testing.T) {
	if k, err := ParseKey("ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="); err != nil || len(k) != 32 {
		t.Fatal(k, err)
	}
	if _, err := ParseKey("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatal(err)
	}
	if _, err := ParseKey("not base64!!"); err == nil {
		t.Fatal("accepted non-base64")
	}
}
