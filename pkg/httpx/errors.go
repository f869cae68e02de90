// Package httpx holds what both Taskhook HTTP services share: the JSON error body and the echo
// error handler that renders it, bearer-token authentication, request logging and the health
// endpoints.
package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// Error is an API error rendered as {"error": Message, "details": Details}.
type Error struct {
	Status     int
	Message    string
	Details    any
	RetryAfter int            // seconds; sets the Retry-After header when > 0
	Extra      map[string]any // extra members of the body (e.g. the event id of a 503)
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// Errorf builds an *Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Body is the JSON shape of every error response.
type Body struct {
	Error   string `json:"error"`
	Details any    `json:"details"`
}

// ErrorBody renders e as a JSON object (used for per-item batch results too).
func (e *Error) Body() map[string]any {
	details := e.Details
	if details == nil {
		details = []any{}
	}
	out := map[string]any{"error": e.Message, "details": details}
	for k, v := range e.Extra {
		out[k] = v
	}
	return out
}

// ErrorHandler renders every error returned by a handler, or raised by echo itself (unknown
// route, wrong method), as the JSON error body. Unexpected errors become a 500 whose message
// says nothing about internals; the error is logged with the request id.
func ErrorHandler(log *zap.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var he *Error
		var ee *echo.HTTPError
		switch {
		case errors.As(err, &he):
		case errors.As(err, &ee):
			he = fromEcho(ee)
		default:
			log.Error("internal error", zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				zap.String("route", c.Path()), zap.Error(err))
			he = &Error{Status: http.StatusInternalServerError, Message: "internal error; the request id is in the X-Request-Id header"}
		}
		if he.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(he.RetryAfter))
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(he.Status)
			return
		}
		_ = c.JSON(he.Status, he.Body())
	}
}

func fromEcho(ee *echo.HTTPError) *Error {
	msg := http.StatusText(ee.Code)
	switch ee.Code {
	case http.StatusNotFound:
		msg = "no such route; see /openapi.json for the API"
	case http.StatusMethodNotAllowed:
		msg = "method not allowed on this route"
	case http.StatusRequestEntityTooLarge:
		msg = "request body too large"
	case http.StatusUnauthorized:
		msg = "missing or unknown bearer token"
	default:
		if s, ok := ee.Message.(string); ok && s != "" {
			msg = s
		}
	}
	return &Error{Status: ee.Code, Message: msg}
}
