// Package errs defines the application error type shared by every layer.
//
// Domain and store code return *Error values with a Code; the HTTP layer maps
// codes to status codes in one place and the CLI maps them to exit codes.
// The model is Ben Johnson's wtf.Error.
package errs

import (
	"errors"
	"fmt"
)

// Error codes. They are stable strings because they appear in API responses.
const (
	Invalid      = "invalid"      // the caller sent something malformed
	NotFound     = "not_found"    // the thing asked for does not exist
	Conflict     = "conflict"     // the request clashes with the current state
	Unauthorized = "unauthorized" // no or bad credentials
	Forbidden    = "forbidden"    // credentials are fine but lack permission
	RateLimited  = "rate_limited" // too many requests; retry later
	TooLarge     = "too_large"    // request or payload over a documented limit
	Internal     = "internal"     // a bug or an unexpected failure
	Unavailable  = "unavailable"  // a dependency is down; retry later
)

// Error is an error with a machine-readable code and a message meant for the
// user. Field names the input field at fault, when there is one.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error // optional cause, never shown to users
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an Invalid error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of the first *Error in err's chain, Internal for any
// other non-nil error and "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Message returns the user-facing message of err: the *Error's own message
// (with its field) or a generic text for internal errors, so that internal
// details never leak to users.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Field != "" {
			return e.Field + ": " + e.Message
		}
		return e.Message
	}
	return "internal error"
}

// Is reports whether err carries the given code.
func Is(err error, code string) bool { return Code(err) == code }
