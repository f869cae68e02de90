package alert

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// tokenBytes is the randomness of an acknowledge token: 256 bits, as long as a session key.
const tokenBytes = 32

// TokenLen is the length of a token as it appears in a link (base64url without padding).
var TokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a fresh acknowledge token and its hash (what is stored to find the alert).
// It is random, not derived from anything: knowing an alert's, event's or webhook's id tells
// nothing about it.
func NewToken() (token string, hash []byte) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		panic("alert: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, HashToken(t)
}

// HashToken is the stored form of a token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte("taskhook-ack:" + token))
	return h[:]
}

// WellFormed reports whether s could be a token at all (a link cut short, or garbage, is
// answered without a database lookup).
func WellFormed(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// TokenAAD binds an alert's sealed token to the alert.
func TokenAAD(alert uuid.UUID) []byte { return []byte("ack-token:" + alert.String()) }

// Link is the acknowledge link of token under the dispatcher's public URL.
func Link(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/ack/" + token
}
