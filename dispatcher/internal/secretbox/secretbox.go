// Package secretbox encrypts what the dispatcher keeps at rest that must not be readable in a
// database dump: webhook URLs and credentials, event payloads (patient data), task state and
// receivers' response excerpts. AES-256-GCM under TASKHOOK_ENCRYPTION_KEY, with associated data
// binding each ciphertext to its row so that ciphertexts cannot be swapped between rows.
//
// Keys rotate: a box seals with its current key and opens with it or any previous key
// (TASKHOOK_PREVIOUS_ENCRYPTION_KEYS). A sealed value names its key (version 2: the first four
// bytes of the key's SHA-256 follow the version byte), so that what is still sealed with an old
// key can be found and sealed again (Reseal); version 1 values, from before rotation existed,
// name none and are tried with every key.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Format versions: 1 = version, nonce, ciphertext; 2 = version, key id (4 bytes), nonce,
// ciphertext.
const (
	v1 byte = 1
	v2 byte = 2
)

// KeyIDSize is the length of a version-2 value's key id.
const KeyIDSize = 4

// KeySize is the key length: 32 bytes (AES-256).
const KeySize = 32

// ErrOpen is returned for a ciphertext that does not decrypt under the key (tampered, swapped,
// or encrypted under another key).
var ErrOpen = errors.New("secretbox: cannot decrypt (wrong key or tampered data)")

// Box seals and opens values. It is safe for concurrent use.
type Box struct {
	current  key
	previous []key
}

type key struct {
	id   [KeyIDSize]byte
	aead cipher.AEAD
}

// ParseKey decodes base64 (standard or URL alphabet, padded or not) of exactly 32 bytes.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("must be base64 of %d bytes, got %d bytes (generate one: openssl rand -base64 32)", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("is not base64 (generate one: openssl rand -base64 32)")
}

func newKey(k []byte) (key, error) {
	if len(k) != KeySize {
		return key{}, fmt.Errorf("secretbox: key must be %d bytes", KeySize)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(k)
	out := key{aead: aead}
	copy(out.id[:], sum[:KeyIDSize])
	return out, nil
}

// New returns a box that seals with current and opens with current or any of previous.
func New(current []byte, previous ...[]byte) (*Box, error) {
	c, err := newKey(current)
	if err != nil {
		return nil, err
	}
	b := &Box{current: c}
	for _, p := range previous {
		k, err := newKey(p)
		if err != nil {
			return nil, err
		}
		if k.id != c.id {
			b.previous = append(b.previous, k)
		}
	}
	return b, nil
}

// CurrentPrefix is how every value sealed with the current key begins (version and key id): a
// value that does not begin so is sealed with another key, or in the format before rotation.
func (b *Box) CurrentPrefix() []byte { return append([]byte{v2}, b.current.id[:]...) }

// Seal encrypts plaintext bound to aad with the current key: version byte, key id, random
// nonce, ciphertext and tag.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	a := b.current.aead
	ns := a.NonceSize()
	head := 1 + KeyIDSize
	out := make([]byte, head+ns, head+ns+len(plaintext)+a.Overhead())
	out[0] = v2
	copy(out[1:head], b.current.id[:])
	if _, err := rand.Read(out[head : head+ns]); err != nil {
		panic("secretbox: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return a.Seal(out, out[head:head+ns], plaintext, aad)
}

// Open decrypts what Seal produced with the same aad, with whichever of the box's keys sealed it.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, ErrOpen
	}
	switch sealed[0] {
	case v2:
		if len(sealed) < 1+KeyIDSize {
			return nil, ErrOpen
		}
		for _, k := range b.keys() {
			if [KeyIDSize]byte(sealed[1:1+KeyIDSize]) == k.id {
				return open(k.aead, sealed[1+KeyIDSize:], aad)
			}
		}
	case v1:
		for _, k := range b.keys() {
			if pt, err := open(k.aead, sealed[1:], aad); err == nil {
				return pt, nil
			}
		}
	}
	return nil, ErrOpen
}

func (b *Box) keys() []key { return append([]key{b.current}, b.previous...) }

func open(a cipher.AEAD, rest, aad []byte) ([]byte, error) {
	ns := a.NonceSize()
	if len(rest) < ns+a.Overhead() {
		return nil, ErrOpen
	}
	pt, err := a.Open(nil, rest[:ns], rest[ns:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Current reports whether sealed is sealed with the current key (in the current format).
func (b *Box) Current(sealed []byte) bool { return bytes.HasPrefix(sealed, b.CurrentPrefix()) }

// Reseal opens sealed (with any key) and seals it again with the current key.
func (b *Box) Reseal(sealed, aad []byte) ([]byte, error) {
	pt, err := b.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	return b.Seal(pt, aad), nil
}
