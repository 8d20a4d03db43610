package blob

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// Error is a Blob service error: an HTTP status and Azure Storage's error
// code (sent as x-ms-error-code and in the XML body) with a message.
type Error struct {
	Status  int
	Code    string
	Message string
	// Detail is sent as <AuthenticationErrorDetail> (403 only).
	Detail string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// AsError returns the *Error in err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports a BlobNotFound error.
func IsNotFound(err error) bool {
	e, ok := AsError(err)
	return ok && e.Status == http.StatusNotFound
}

func errBlobNotFound() *Error {
	return newError(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
}

// errLinkOutside answers a blob whose path is or runs through a symbolic
// link that leads outside its storage account (or nowhere): mlw never
// follows it, and lists do not show it.
func errLinkOutside(name string) *Error {
	return newError(http.StatusNotFound, "BlobNotFound", fmt.Sprintf(
		"The blob %q is, or lies under, a symbolic link that leads outside its storage account; mlw does not follow such links. Replace the link with the file or directory it points to.", name))
}

func errAlreadyExists() *Error {
	return newError(http.StatusConflict, "BlobAlreadyExists", "The specified blob already exists.")
}

func errConditionNotMet() *Error {
	return newError(http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
}

// errNotModified is a 304 answer to a conditional read; it has no body.
func errNotModified() *Error {
	return newError(http.StatusNotModified, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
}

func errMD5Mismatch(sent, got []byte) *Error {
	return newError(http.StatusBadRequest, "Md5Mismatch", fmt.Sprintf(
		"The MD5 value specified in the request did not match with the MD5 value calculated by the server (sent %s, calculated %s).",
		base64.StdEncoding.EncodeToString(sent), base64.StdEncoding.EncodeToString(got)))
}

func errInvalidBlockList(why string) *Error {
	return newError(http.StatusBadRequest, "InvalidBlockList", "The specified block list is invalid: "+why+".")
}

func errPathConflict(name, why string) *Error {
	return newError(http.StatusConflict, "PathConflict", fmt.Sprintf(
		"The blob name %q cannot be stored: %s (mlw keeps blobs as files, so 'a' and 'a/b' cannot both be blobs).", name, why))
}

// ErrInvalidRange is the 416 answer to a range outside the blob.
func errInvalidRange() *Error {
	return newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource.")
}

// IsBodyError reports a failure to read a request body (the client went
// away or sent less than it announced), as opposed to a storage failure.
func IsBodyError(err error) bool {
	var re *readError
	return errors.As(err, &re)
}
