package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Version is sent in the User-Agent.
const Version = "0.1.0"

// Option configures a [Publisher] or an [Admin].
type Option func(*base)

// WithHTTPClient sets the HTTP client (default: a client with a 30 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(b *base) { b.http = c } }

// WithRetries sets how many times a publish is retried after a 503 or a lost connection
// (default 4; 0 never retries).
func WithRetries(n int) Option { return func(b *base) { b.retries = n } }

// WithMaxWait caps the wait between two retries, whatever Retry-After says (default 30 s).
func WithMaxWait(d time.Duration) Option { return func(b *base) { b.maxWait = d } }

// WithUserAgent sets the User-Agent (default "taskhook-go/<Version>").
func WithUserAgent(ua string) Option { return func(b *base) { b.userAgent = ua } }

// base is what Publisher and Admin share: the URL, the token and the HTTP client.
type base struct {
	url       string
	token     string
	http      *http.Client
	retries   int
	maxWait   time.Duration
	userAgent string
}

func newBase(rawURL, token string, opts []Option) (*base, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("taskhook: the URL must be http(s)://host[:port], got %q", rawURL)
	}
	if token == "" {
		return nil, errors.New("taskhook: a token is required")
	}
	b := &base{url: strings.TrimRight(rawURL, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second},
		retries: 4, maxWait: 30 * time.Second, userAgent: "taskhook-go/" + Version}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// response is a completed exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; body is JSON (nil: none). It returns the response whatever its status
// and an error only when there was no response.
func (b *base) do(ctx context.Context, method, path string, body []byte, header http.Header) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.url+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", b.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: rb}, nil
}

// call sends a JSON request and decodes a 2xx answer into out (nil: ignored); any other answer
// is an *Error.
func (b *base) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = marshal(in); err != nil {
			return err
		}
	}
	r, err := b.do(ctx, method, path, body, nil)
	if err != nil {
		return err
	}
	return r.decode(method, path, out)
}

func (r *response) decode(method, path string, out any) error {
	if r.status < 200 || r.status > 299 {
		return parseError(method, path, &http.Response{StatusCode: r.status, Header: r.header}, r.body)
	}
	if out == nil || len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("taskhook: %s %s: unreadable answer: %w", method, path, err)
	}
	return nil
}

// marshal turns v into JSON; []byte and json.RawMessage are sent as they are.
func marshal(v any) ([]byte, error) {
	switch x := v.(type) {
	case json.RawMessage:
		return x, nil
	case []byte:
		return x, nil
	}
	return json.Marshal(v)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
