package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/jsonx"
)

// TLSView is a webhook's tls object as shown: the certificates (public), never the key.
type TLSView struct {
	ClientCertificatePEM string `json:"client_certificate_pem,omitempty"`
	CAPEM                string `json:"ca_pem,omitempty"`
	ClientKey            string `json:"client_key,omitempty"` // "sealed" when one is stored
	Hint                 string `json:"hint,omitempty"`
}

// tlsView is w's tls object as shown (nil without one).
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
// A value that is not such an object is refused at its pointer under /tls (an unknown field at
// /tls/<field>); what the object's values must be is checked with the webhook
// (subscription.CheckTLS).
func parseTLS(raw json.RawMessage, w *subscription.Webhook) []subscription.Problem {
	if raw == nil {
		return nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		w.TLS = nil
		return nil
	}
	var in subscription.TLSConfig
	if err := jsonx.Decode(raw, &in); err != nil {
		var es jsonx.Errors
		if !errors.As(err, &es) {
			return []subscription.Problem{{Path: "/tls", Message: "must be an object with client_certificate_pem and client_key_pem, ca_pem, or both; or null"}}
		}
		ps := make([]subscription.Problem, len(es))
		for i, e := range es.Prefix("/tls") {
			ps[i] = subscription.Problem{Path: e.Path, Message: e.Message}
		}
		return ps
	}
	if in.ClientKeyPEM == "" && w.TLS != nil && in.ClientCertificatePEM != "" && in.ClientCertificatePEM == w.TLS.ClientCertificatePEM {
		in.ClientKeyPEM = w.TLS.ClientKeyPEM
	}
	w.TLS = &in
	return nil
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
