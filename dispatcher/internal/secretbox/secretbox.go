// Package secretbox encrypts what the dispatcher keeps at rest that must not be readable in a
// database dump: webhook URLs and credentials, event payloads (patient data) and receivers'
// response excerpts. AES-256-GCM under TASKHOOK_ENCRYPTION_KEY, with associated data binding each
// ciphertext to its row so that ciphertexts cannot be swapped between rows.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

const version byte = 1

// KeySize is the key length: 32 bytes (AES-256).
const KeySize = 32

// ErrOpen is returned for a ciphertext that does not decrypt under the key (tampered, swapped,
// or encrypted under another key).
var ErrOpen = errors.New("secretbox: cannot decrypt (wrong key or tampered data)")

// Box seals and opens values. It is safe for concurrent use.
type Box struct{ aead cipher.AEAD }

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

// New returns a box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d bytes", KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad: version byte, random nonce, ciphertext and tag.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	ns := b.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("secretbox: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return b.aead.Seal(out, out[1:1+ns], plaintext, aad)
}

// Open decrypts what Seal produced with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) < 1+ns+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
