package admin

import (
	"bytes"
	"encoding/json"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// TLSView is a webhook's tls object as responses show it: the certificates (public), never
// the key.
type TLSView struct {
	ClientCertificatePEM string `json:"client_certificate_pem,omitempty"`
	CAPEM                string `json:"ca_pem,omitempty"`
	ClientKey            string `json:"client_key,omitempty"` // "sealed" when one is stored
	Hint                 string `json:"hint,omitempty"`
}

// tlsView is w's tls object for a response (nil without one).
func tlsView(w *subscription.Webhook, hint string) *TLSView {
	if w.TLS == nil {
		return nil
	}
	v := &TLSView{ClientCertificatePEM: w.TLS.ClientCertificatePEM, CAPEM: w.TLS.CAPEM, Hint: hint}
	if w.TLS.ClientKeyPEM != "" {
		v.ClientKey = "sealed"
	}
	return v
}

// parseTLS reads a body's "tls": absent (nil raw) leaves w's as is, null removes it, an object
// replaces it; an object that repeats the stored certificate without a key keeps the stored key
// (the key is write-only, so a client that shows and saves the form cannot send it back).
// A tls value that is not such an object becomes an empty one, which validation refuses (422
// at /tls, saying what it takes).
func parseTLS(raw json.RawMessage, w *subscription.Webhook) {
	if raw == nil {
		return
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		w.TLS = nil
		return
	}
	var in subscription.TLSConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		w.TLS = &subscription.TLSConfig{}
		return
	}
	if in.ClientKeyPEM == "" && w.TLS != nil && in.ClientCertificatePEM != "" && in.ClientCertificatePEM == w.TLS.ClientCertificatePEM {
		in.ClientKeyPEM = w.TLS.ClientKeyPEM
	}
	w.TLS = &in
}

// mergeOwnAuth keeps the stored secret of the credential types providers apply themselves when
// an update names the type without it (a routing key; an SMTP password for the same user).
func mergeOwnAuth(cur *credential.Config, prev credential.Config) {
	switch {
	case cur.Type == credential.RoutingKey && cur.RoutingKey == "" && prev.Type == credential.RoutingKey:
		cur.RoutingKey = prev.RoutingKey
	case cur.Type == credential.SMTP && cur.Password == "" && prev.Type == credential.SMTP && cur.Username == prev.Username:
		cur.Password = prev.Password
	}
}
