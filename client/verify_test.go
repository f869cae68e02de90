package client

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The test vector of the Standard Webhooks specification (and of its reference libraries).
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != 0 {
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	}
	if sig != "" {
		h.Set("webhook-signature", sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	at := func(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }
	other := "whsec_" + "c2Vjb25kLXNlY3JldC1vZi1hLXJvdGF0aW9uLTEyMzQ=" // base64 of 32 bytes
	otherSig, _ := Sign(other, specID, time.Unix(specTS, 0), []byte(specBody))
	cases := []struct {
		name    string
		secrets []string
		h       http.Header
		body    string
		now     int64
		tol     time.Duration
		want    error
	}{
		{"the specification's vector", []string{specSecret}, headers(specID, specTS, specSig), specBody, specTS, 0, nil},
		{"secret without whsec_", []string{specSecret[len("whsec_"):]}, headers(specID, specTS, specSig), specBody, specTS, 0, nil},
		{"rotation: old secret, two signatures", []string{specSecret}, headers(specID, specTS, otherSig+" "+specSig), specBody, specTS, 0, nil},
		{"rotation: new secret, two signatures", []string{other}, headers(specID, specTS, specSig+" "+otherSig), specBody, specTS, 0, nil},
		{"receiver holding both secrets", []string{"whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", other}, headers(specID, specTS, otherSig), specBody, specTS, 0, nil},
		{"other schemes ignored", []string{specSecret}, headers(specID, specTS, "v1a,abc v2,xyz "+specSig), specBody, specTS, 0, nil},
		{"skew within tolerance (past)", []string{specSecret}, headers(specID, specTS, specSig), specBody, specTS + 299, 0, nil},
		{"skew within tolerance (future)", []string{specSecret}, headers(specID, specTS, specSig), specBody, specTS - 299, 0, nil},
		{"too old", []string{specSecret}, headers(specID, specTS, specSig), specBody, specTS + 301, 0, ErrTimestampTooOld},
		{"too new", []string{specSecret}, headers(specID, specTS, specSig), specBody, specTS - 301, 0, ErrTimestampTooNew},
		{"a wider tolerance", []string{specSecret}, headers(specID, specTS, specSig), specBody, specTS + 3600, 2 * time.Hour, nil},
		{"body changed", []string{specSecret}, headers(specID, specTS, specSig), `{"test": 2432232315}`, specTS, 0, ErrNoMatchSignature},
		{"id changed", []string{specSecret}, headers("msg_other", specTS, specSig), specBody, specTS, 0, ErrNoMatchSignature},
		{"timestamp changed", []string{specSecret}, headers(specID, specTS+1, specSig), specBody, specTS, 0, ErrNoMatchSignature},
		{"wrong secret", []string{other}, headers(specID, specTS, specSig), specBody, specTS, 0, ErrNoMatchSignature},
		{"signature without version", []string{specSecret}, headers(specID, specTS, specSig[3:]), specBody, specTS, 0, ErrNoMatchSignature},
		{"signature not base64", []string{specSecret}, headers(specID, specTS, "v1,!!!"), specBody, specTS, 0, ErrNoMatchSignature},
		{"no webhook-id", []string{specSecret}, headers("", specTS, specSig), specBody, specTS, 0, ErrMissingHeaders},
		{"no webhook-timestamp", []string{specSecret}, headers(specID, 0, specSig), specBody, specTS, 0, ErrMissingHeaders},
		{"no webhook-signature", []string{specSecret}, headers(specID, specTS, ""), specBody, specTS, 0, ErrMissingHeaders},
		{"timestamp not a number", []string{specSecret}, http.Header{"Webhook-Id": {specID}, "Webhook-Timestamp": {"yesterday"}, "Webhook-Signature": {specSig}}, specBody, specTS, 0, ErrBadTimestamp},
		{"headers not canonical", []string{specSecret}, http.Header{"webhook-id": {specID}, "WEBHOOK-TIMESTAMP": {"1614265330"}, "webhook-signature": {specSig}}, specBody, specTS, 0, nil},
		{"secret not base64", []string{"whsec_%%%"}, headers(specID, specTS, specSig), specBody, specTS, 0, ErrBadSecret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verifier{Secrets: c.secrets, Tolerance: c.tol, Now: at(c.now)}.Verify(c.h, []byte(c.body))
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSignMatchesTheSpecification(t *testing.T) {
	got, err := Sign(specSecret, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil || got != specSig {
		t.Fatalf("Sign = %q, %v; want %q", got, err, specSig)
	}
}

func TestVerifyNow(t *testing.T) {
	body := []byte(`{"type":"task.created"}`)
	now := time.Now()
	sig, _ := Sign(specSecret, "d-1", now, body)
	if err := Verify(specSecret, headers("d-1", now.Unix(), sig), body); err != nil {
		t.Fatal(err)
	}
}
