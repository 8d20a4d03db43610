// Package core holds mlw's domain vocabulary: resource identifiers, name rules,
// durations, state machines and the API error type. It imports only the
// standard library so that every other package can depend on it.
package core

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is an error with a public, user-facing message in the shape of the
// Azure Resource Manager error envelope. Status is the HTTP status it maps to.
// Cause, when set, is internal detail: it is logged, never sent to clients.
type Error struct {
	Status  int
	Code    string
	Message string
	Target  string
	Details []*Error
	Cause   error
	// RetryAfter, when positive, says that the same request can succeed
	// later (the state it clashes with is transient: a deletion in
	// progress, a concurrent change, a limit in use); it is sent as the
	// Retry-After header (whole seconds, at least 1).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Target != "" {
		msg += " (target " + e.Target + ")"
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e that carries cause for the logs.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// AsError returns the *Error inside err, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Invalid reports a validation failure of one field. The message should say
// what is allowed, so that the user knows how to fix the request.
func Invalid(target, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "BadRequest", Target: target, Message: fmt.Sprintf(format, args...)}
}

// InvalidCode is Invalid with a specific error code (for example InvalidVmSize).
func InvalidCode(code, target, format string, args ...any) *Error {
	e := Invalid(target, format, args...)
	e.Details = []*Error{{Code: code, Message: e.Message, Target: target}}
	return e
}

// NotFound reports a missing resource; code is ResourceNotFound,
// ResourceGroupNotFound, WorkspaceNotFound and so on.
func NotFound(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a request that clashes with the current state.
func Conflict(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ConflictRetry reports a clash with a transient state that a retry after
// about after can get past (409 with Retry-After).
func ConflictRetry(code string, after time.Duration, format string, args ...any) *Error {
	e := Conflict(code, format, args...)
	e.RetryAfter = after
	return e
}

// TooManyRequests reports a per-caller limit in use (429 with Retry-After);
// the message should name the limit and how to raise it.
func TooManyRequests(code string, after time.Duration, format string, args ...any) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: code, Message: fmt.Sprintf(format, args...), RetryAfter: after}
}

// Unauthorized reports a missing or invalid credential.
func Unauthorized(format string, args ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "AuthenticationFailed", Message: fmt.Sprintf(format, args...)}
}

// Forbidden reports a caller that is known but not allowed.
func Forbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: "AuthorizationFailed", Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure; the cause goes to the log only.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "InternalServerError",
		Message: "The server hit an unexpected error; the details are in the server log.", Cause: cause}
}
