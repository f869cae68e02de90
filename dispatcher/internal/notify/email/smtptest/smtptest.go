// Package smtptest is a real SMTP server for tests (github.com/emersion/go-smtp) that keeps
// what it receives: STARTTLS or implicit TLS with a test CA's certificate, or plain; an
// optional PLAIN login; a scripted refusal of recipients.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one mail the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	TLS  bool // the session was encrypted
}

// Server is a running SMTP server.
type Server struct {
	Addr string // 127.0.0.1:port

	mu       sync.Mutex
	messages []Message
	refuse   error
	login    [2]string
	sessions int
}

// Mode is how the server speaks TLS.
type Mode int

// Modes.
const (
	Plain    Mode = iota // no TLS at all
	StartTLS             // STARTTLS offered
	Implicit             // TLS from the first byte (smtps)
)

// Start runs a server on 127.0.0.1 until the test ends. cert is its certificate (unused when
// mode is Plain); user and password, when user is set, are the only login it accepts (and it
// then offers AUTH PLAIN).
func Start(t testing.TB, mode Mode, cert tls.Certificate, user, password string) *Server {
	t.Helper()
	s := &Server{login: [2]string{user, password}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = mode == Plain
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up (refused certificates) are what tests provoke
	if mode != Plain {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var l net.Listener
	var err error
	if mode == Implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return s
}

// Refuse makes RCPT answer err (an *smtp.SMTPError) from now on; nil accepts again.
func (s *Server) Refuse(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = err
}

// Messages are the mails accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Sessions counts the connections the server has seen.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Wait waits up to within for n messages.
func (s *Server) Wait(t testing.TB, n int, within time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("SMTP server got %d messages within %s, want %d", len(s.Messages()), within, n)
	return nil
}

type session struct {
	srv    *Server
	conn   *smtp.Conn
	msg    Message
	authed bool // a login succeeded in this session
}

func (s *session) AuthMechanisms() []string {
	if s.srv.login[0] == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.login[0] || pass != s.srv.login[1] {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.login[0] != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.msg.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.refuse != nil {
		return s.srv.refuse
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg.Data, s.msg.TLS = b, isTLS
	s.srv.mu.Lock()
	s.srv.messages = append(s.srv.messages, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }
