package email

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/taskhook/taskhook/dispatcher/internal/netguard"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// testCA is a private certificate authority and a server certificate for 127.0.0.1 signed by it.
type testCA struct {
	pool   *x509.CertPool
	server tls.Certificate
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Taskhook test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testCA{pool: pool, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// mailbox is a real SMTP server (go-smtp) that keeps what it receives.
type mailbox struct {
	mu       sync.Mutex
	messages []received
	// refuse, when set, is the error RCPT answers with.
	refuse error
	login  [2]string // the accepted username and password; empty: no AUTH
	tls    bool      // whether the sessions saw TLS
}

type received struct {
	from string
	to   []string
	data []byte
	tls  bool
}

type session struct {
	box  *mailbox
	conn *smtp.Conn
	msg  received
}

func (s *session) AuthMechanisms() []string {
	if s.box.login[0] == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.box.login[0] || pass != s.box.login[1] {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.msg.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	if s.box.refuse != nil {
		return s.box.refuse
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg.data, s.msg.tls = b, isTLS
	s.box.mu.Lock()
	s.box.messages = append(s.box.messages, s.msg)
	s.box.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = received{} }
func (s *session) Logout() error { return nil }

func (b *mailbox) got() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.messages...)
}

// serve starts an SMTP server on 127.0.0.1: STARTTLS with the CA's certificate when ca is set
// and implicit is false, implicit TLS (smtps) when implicit, plain otherwise. It returns the
// address.
func serve(t *testing.T, box *mailbox, ca *testCA, implicit bool) string {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{box: box, conn: c}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = ca == nil
	var l net.Listener
	var err error
	if ca != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}
	}
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return l.Addr().String()
}

// guard is the real SSRF guard, with loopback allowed (the test server's address) as
// TASKHOOK_ALLOWED_NETWORKS would.
func guard() *netguard.Policy {
	return &netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

func transport(ca *testCA, allowPlain bool) notify.Transport {
	tr := notify.Transport{Dial: guard().DialContext, AllowPlain: allowPlain, Excerpt: 512}
	if ca != nil {
		tr.TLS = &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// netguardDefault is the guard as deployed, with no allowed networks.
type netguardDefault struct{}

func (netguardDefault) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&netguard.Policy{}).DialContext(ctx, network, addr)
}
