package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
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

// TestRotation: values sealed under key 1 (in either format) open under key 2 with key 1 as a
// previous key, are found (Current) and re-sealed under key 2; key 2 alone then opens them, and
// opens nothing still sealed under key 1.
func TestRotation(t *testing.T) {
	k1, k2 := make([]byte, KeySize), make([]byte, KeySize)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(k2)
	one, _ := New(k1)
	aad := []byte("row-7")
	sealed := one.Seal([]byte("whsec_secret"), aad)
	legacy := legacySeal(t, k1, []byte("payload"), aad)
	both, err := New(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]byte{sealed, legacy} {
		if _, err := both.Open(s, aad); err != nil {
			t.Fatalf("key 2 + previous key 1 cannot open a key-1 value: %v", err)
		}
		if both.Current(s) {
			t.Fatal("a key-1 value counted as current")
		}
	}
	again, err := both.Reseal(sealed, aad)
	if err != nil || !both.Current(again) {
		t.Fatalf("reseal: %v", err)
	}
	two, _ := New(k2)
	if pt, err := two.Open(again, aad); err != nil || string(pt) != "whsec_secret" {
		t.Fatalf("key 2 alone cannot open the re-sealed value: %v", err)
	}
	if _, err := two.Open(sealed, aad); err == nil {
		t.Fatal("key 2 alone opened a key-1 value")
	}
	if _, err := both.Open(again, []byte("row-8")); err == nil {
		t.Fatal("opened under another row's aad")
	}
}

// legacySeal seals as version 1 did (no key id).
func legacySeal(t *testing.T, k, pt, aad []byte) []byte {
	block, _ := aes.NewCipher(k)
	a, _ := cipher.NewGCM(block)
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	return a.Seal(append([]byte{1}, nonce...), nonce, pt, aad)
}
