package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// apiError is an error answer of the admin API: its status, message and 422 details.
type apiError struct {
	Status  int
	Message string
	Details []subscription.Problem
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// recorder is the smallest http.ResponseWriter that keeps what the API answered.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// call sends one request to the admin JSON API in-process (no socket): the same routes,
// authentication, roles, validation, audit and logging as a curl of /v1, under the session's
// token. body (when not nil) is sent as JSON; a 2xx answer is decoded into out (when not nil);
// any other answer is an *apiError.
func (u *UI) call(c echo.Context, method, path string, body, out any) error {
	r, token := c.Request(), ""
	if v := viewerOf(c); v != nil {
		token = v.token
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, rd)
	if err != nil {
		return err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Taskhook-Via", "dashboard")                         // an acknowledgement from here is audited as via the dashboard
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" { // the log lines of both share it
		req.Header.Set("X-Request-Id", id)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	u.opts.API.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		var e struct {
			Error   string          `json:"error"`
			Details json.RawMessage `json:"details"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		if e.Error == "" {
			e.Error = http.StatusText(rec.status)
		}
		var ps []subscription.Problem
		_ = json.Unmarshal(e.Details, &ps) // details of other shapes are not field problems
		return &apiError{Status: rec.status, Message: e.Error, Details: ps}
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return fmt.Errorf("ui: decoding %s %s: %w", method, path, err)
		}
	}
	return nil
}
