package subscription

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxPEMLen bounds each PEM field of a webhook's tls object.
const MaxPEMLen = 64 << 10

// TLSConfig is a webhook's "tls" object: a client certificate (with its chain) and key for
// mutual TLS, and a private CA the receiver's certificate is verified against (instead of the
// system's). The key is secret: sealed at rest, never shown.
type TLSConfig struct {
	ClientCertificatePEM string `json:"client_certificate_pem,omitempty"`
	ClientKeyPEM         string `json:"client_key_pem,omitempty"`
	CAPEM                string `json:"ca_pem,omitempty"`
}

// TLSAAD binds a webhook's sealed TLS settings to its row.
func TLSAAD(w string) []byte { return []byte("webhook-tls:" + w) }

// CheckTLS validates a tls object at save time (now is the clock for expiry): each problem is
// located under /tls.
func CheckTLS(c *TLSConfig, url string, now time.Time) []Problem {
	if c == nil {
		return nil
	}
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Path: "/tls/" + field, Message: fmt.Sprintf(format, args...)})
	}
	if strings.HasPrefix(url, "http://") {
		return []Problem{{Path: "/tls", Message: "applies only to https (or smtp/smtps) URLs"}}
	}
	for field, v := range map[string]string{"client_certificate_pem": c.ClientCertificatePEM, "client_key_pem": c.ClientKeyPEM, "ca_pem": c.CAPEM} {
		if len(v) > MaxPEMLen {
			add(field, "must be at most %d bytes", MaxPEMLen)
		}
	}
	if len(ps) > 0 {
		return ps
	}
	switch {
	case c.ClientCertificatePEM == "" && c.ClientKeyPEM == "" && c.CAPEM == "":
		return []Problem{{Path: "/tls", Message: "give client_certificate_pem and client_key_pem (mutual TLS), ca_pem (a private CA), or both; or null for none"}}
	case c.ClientCertificatePEM != "" && c.ClientKeyPEM == "":
		add("client_key_pem", "is required with client_certificate_pem (the certificate's private key, PEM)")
	case c.ClientCertificatePEM == "" && c.ClientKeyPEM != "":
		add("client_certificate_pem", "is required with client_key_pem (the PEM certificate, then its chain)")
	case c.ClientCertificatePEM != "":
		if err := checkClientPair(c.ClientCertificatePEM, c.ClientKeyPEM, now); err != nil {
			var fe fieldError
			if errors.As(err, &fe) {
				add(fe.field, "%s", fe.msg)
			}
		}
	}
	if c.CAPEM != "" {
		if _, err := certPool(c.CAPEM); err != nil {
			add("ca_pem", "%v", err)
		}
	}
	sortProblems(ps)
	return ps
}

type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }

// checkClientPair checks that the certificate parses, is valid now and matches the key.
func checkClientPair(certPEM, keyPEM string, now time.Time) error {
	certs, err := parseCerts(certPEM)
	if err != nil {
		return fieldError{"client_certificate_pem", err.Error()}
	}
	if blk, _ := pem.Decode([]byte(keyPEM)); blk == nil || !strings.HasSuffix(blk.Type, "PRIVATE KEY") {
		return fieldError{"client_key_pem", "is not a PEM private key (-----BEGIN PRIVATE KEY----- …)"}
	}
	leaf := certs[0]
	switch {
	case now.After(leaf.NotAfter):
		return fieldError{"client_certificate_pem", fmt.Sprintf("expired on %s; issue a new certificate", leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return fieldError{"client_certificate_pem", fmt.Sprintf("is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return fieldError{"client_key_pem", "does not match the certificate's public key (the first certificate of client_certificate_pem)"}
		}
		return fieldError{"client_key_pem", "cannot be used with the certificate: " + strings.TrimPrefix(err.Error(), "tls: ")}
	}
	return nil
}

// parseCerts reads the CERTIFICATE blocks of a PEM text (at least one; nothing else).
func parseCerts(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("holds a %s block; only CERTIFICATE blocks belong here", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", len(out)+1, strings.TrimPrefix(err.Error(), "x509: "))
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("is not a PEM certificate (-----BEGIN CERTIFICATE----- …)")
	}
	return out, nil
}

func certPool(text string) (*x509.CertPool, error) {
	certs, err := parseCerts(text)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// BuildTLS is the client TLS configuration of c (nil for none). c must have passed CheckTLS.
func BuildTLS(c *TLSConfig) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.ClientCertificatePEM != "" {
		pair, err := tls.X509KeyPair([]byte(c.ClientCertificatePEM), []byte(c.ClientKeyPEM))
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.CAPEM != "" {
		pool, err := certPool(c.CAPEM)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// TLSHint is the plaintext description of c shown in responses: the client certificate's
// subject and expiry, and whether a private CA is set. Never the key.
func TLSHint(c *TLSConfig) string {
	if c == nil {
		return ""
	}
	var parts []string
	if certs, err := parseCerts(c.ClientCertificatePEM); err == nil {
		parts = append(parts, "client certificate "+certs[0].Subject.String()+", expires "+certs[0].NotAfter.UTC().Format(time.RFC3339))
	}
	if c.CAPEM != "" {
		parts = append(parts, "private CA")
	}
	return strings.Join(parts, "; ")
}
