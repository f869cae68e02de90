package webhooks

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
)

// The kinds of error the service returns, for errors.Is; each *Error names one and carries the
// message to show (the admin API answers 404, 422 and 400 with it; the dashboard shows it).
var (
	ErrNotFound   = errors.New("not found")
	ErrInvalid    = errors.New("invalid")
	ErrBadRequest = errors.New("bad request")
	// ErrUnprocessable is a well-formed request the webhook cannot carry out (422, no field).
	ErrUnprocessable = errors.New("unprocessable")
)

// Error is a refusal: what was wrong, and for ErrInvalid the fields with their JSON pointers.
type Error struct {
	Kind     error // ErrNotFound, ErrInvalid or ErrBadRequest
	Message  string
	Problems []subscription.Problem
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// InvalidMessage is the message of every ErrInvalid: the details say what to fix.
const InvalidMessage = "the webhook is not valid; see details"

// Invalid is an ErrInvalid with its problems.
func Invalid(ps []subscription.Problem) *Error {
	return &Error{Kind: ErrInvalid, Message: InvalidMessage, Problems: ps}
}

// NotFound is the ErrNotFound of a missing what ("webhook", "delivery") with id.
func NotFound(what string, id uuid.UUID) *Error {
	return &Error{Kind: ErrNotFound, Message: fmt.Sprintf("no %s with id %s", what, id)}
}

// BadRequest is an ErrBadRequest with its message.
func BadRequest(format string, args ...any) *Error {
	return &Error{Kind: ErrBadRequest, Message: fmt.Sprintf(format, args...)}
}
