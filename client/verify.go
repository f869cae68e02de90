package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every Standard Webhooks secret Taskhook generates.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far webhook-timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify; match them with errors.Is.
var (
	ErrMissingHeaders   = errors.New("taskhook: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrBadTimestamp     = errors.New("taskhook: webhook-timestamp is not unix seconds")
	ErrTimestampTooOld  = errors.New("taskhook: webhook-timestamp too old")
	ErrTimestampTooNew  = errors.New("taskhook: webhook-timestamp too far in the future")
	ErrNoMatchSignature = errors.New("taskhook: no signature matches the secret")
	ErrBadSecret        = errors.New("taskhook: the secret is not whsec_ followed by base64")
)

// Verify checks a delivery as Standard Webhooks defines it: one of the space-separated
// "v1,<base64>" signatures of webhook-signature must be HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>" under the key in secret (whsec_<base64>; the
// prefix may be left out), and webhook-timestamp must be within DefaultTolerance of now.
// body must be the raw bytes received, before any JSON decoding. During a rotation Taskhook
// sends two signatures, one per secret: the receiver's secret, old or new, matches one of them.
//
// Drop a delivery whose webhook-id was already handled: retries and replays send the same id.
func Verify(secret string, headers http.Header, body []byte) error {
	return Verifier{Secrets: []string{secret}}.Verify(headers, body)
}

// Verifier is Verify with options: several secrets (a receiver that takes both the old and
// the new secret of a rotation), another tolerance, another clock.
type Verifier struct {
	Secrets   []string
	Tolerance time.Duration    // 0: DefaultTolerance
	Now       func() time.Time // nil: time.Now
}

// Verify checks headers and body; see the function Verify.
func (v Verifier) Verify(headers http.Header, body []byte) error {
	id, ts, sigs := header(headers, "webhook-id"), header(headers, "webhook-timestamp"), header(headers, "webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	sent := time.Unix(sec, 0)
	switch d := now().Sub(sent); {
	case d > tol:
		return fmt.Errorf("%w: sent %s ago, tolerance %s", ErrTimestampTooOld, d.Truncate(time.Second), tol)
	case d < -tol:
		return fmt.Errorf("%w: sent %s ahead, tolerance %s", ErrTimestampTooNew, (-d).Truncate(time.Second), tol)
	}
	for _, secret := range v.Secrets {
		key, err := secretKey(secret)
		if err != nil {
			return err
		}
		want := sign(key, id, ts, body)
		for _, s := range strings.Fields(sigs) {
			ver, sig, ok := strings.Cut(s, ",")
			if !ok || ver != "v1" {
				continue // another scheme (v1a: asymmetric) or garbage
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoMatchSignature
}

// header reads a header whether headers is canonical (as net/http fills it) or was built by
// hand with other cases (http.Header{"webhook-id": …}).
func header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// Sign returns the webhook-signature value ("v1,<base64>") of a message, as Taskhook sends it;
// for tests of a receiver.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(sign(key, id, strconv.FormatInt(ts.Unix(), 10), body)), nil
}

func sign(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}
