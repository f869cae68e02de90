package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors that an [*Error] matches with errors.Is, by HTTP status.
var (
	ErrBadRequest   = errors.New("taskhook: bad request")         // 400
	ErrUnauthorized = errors.New("taskhook: unauthorized")        // 401: missing or unknown token
	ErrForbidden    = errors.New("taskhook: forbidden")           // 403: a viewer token on a write
	ErrNotFound     = errors.New("taskhook: not found")           // 404
	ErrConflict     = errors.New("taskhook: conflict")            // 409
	ErrTooLarge     = errors.New("taskhook: too large")           // 413
	ErrInvalid      = errors.New("taskhook: invalid")             // 422: see Details
	ErrUnavailable  = errors.New("taskhook: unavailable")         // 503: retry after RetryAfter
	ErrServer       = errors.New("taskhook: server error")        // any other 5xx
	ErrUnsupported  = errors.New("taskhook: unsupported content") // 415
)

// Detail is one problem of a 422: a JSON pointer into what was sent and what is wrong there.
type Detail struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error is a non-2xx answer of a Taskhook API.
type Error struct {
	StatusCode int           // the HTTP status
	Message    string        // the body's "error"
	Details    []Detail      // the body's "details" (422: one per problem)
	RetryAfter time.Duration // the Retry-After header, when sent (503)
	ID         string        // the event id to retry with (a 503 of ingest)
	Method     string        // the request
	Path       string
	Body       []byte // the raw body, when it was not Taskhook's JSON error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	} else if len(e.Body) > 0 {
		b.WriteString(" " + excerpt(e.Body))
	}
	for _, d := range e.Details {
		fmt.Fprintf(&b, "; %s: %s", d.Path, d.Message)
	}
	return b.String()
}

// Is matches the sentinel of the status (errors.Is(err, client.ErrNotFound)).
func (e *Error) Is(target error) bool {
	return target == sentinel(e.StatusCode)
}

func sentinel(status int) error {
	switch status {
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	case http.StatusUnsupportedMediaType:
		return ErrUnsupported
	case http.StatusUnprocessableEntity:
		return ErrInvalid
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	if status >= 500 {
		return ErrServer
	}
	return nil
}

// errorBody is the JSON of every Taskhook error.
type errorBody struct {
	Error   string          `json:"error"`
	Details json.RawMessage `json:"details"`
	ID      string          `json:"id"`
}

func parseError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, Method: method, Path: path, RetryAfter: retryAfter(resp.Header)}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		e.Message, e.ID = eb.Error, eb.ID
		if len(eb.Details) > 0 {
			_ = json.Unmarshal(eb.Details, &e.Details) // details of another shape stay in Body
		}
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Body = body
	return e
}

// retryAfter reads Retry-After in seconds or as an HTTP date (0 when absent).
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
