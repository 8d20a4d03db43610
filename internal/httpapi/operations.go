package httpapi

import (
	"net/http"
	"net/url"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Long-running operations follow ARM: the first answer is 202 (or 201) with
// Azure-AsyncOperation (poll for {"status": ...}), Location (poll: 202 while
// running, 200 when done) and Retry-After. azure-core waits 30 s between
// polls when Retry-After is missing, so it is always sent, as 1 second.

const opsBase = "/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{loc}"

func (a *API) operationRoutes() {
	a.Handle("GET", opsBase+"/mfeOperationsStatus/{id}", a.operationStatus)
	a.Handle("GET", opsBase+"/mfeOperationResults/{id}", a.operationResult)
}

// opURLs returns the two polling URLs of an operation.
func opURLs(r *Request, op *resource.Operation, location string) (asyncURL, locationURL string) {
	sub := r.Param("sub")
	if location == "" {
		location = "global"
	}
	q := url.Values{}
	if v := r.APIVersion(); v != "" {
		q.Set("api-version", v)
	}
	base := r.BaseURL() + "/subscriptions/" + sub + "/providers/" + core.Provider + "/locations/" + url.PathEscape(core.NormalizeLocation(location))
	suffix := ""
	if len(q) > 0 {
		suffix = "?" + q.Encode()
	}
	return base + "/mfeOperationsStatus/" + op.ID + suffix, base + "/mfeOperationResults/" + op.ID + suffix
}

// lroHeaders returns the headers that start a long-running operation.
func lroHeaders(r *Request, op *resource.Operation, location string) http.Header {
	async, loc := opURLs(r, op, location)
	h := http.Header{}
	h.Set("Azure-AsyncOperation", async)
	h.Set("Location", loc)
	h.Set("Retry-After", "1")
	return h
}

// accepted is the 202 answer that starts a long-running operation.
func accepted(r *Request, op *resource.Operation, location string) *Response {
	return &Response{Status: http.StatusAccepted, Header: lroHeaders(r, op, location)}
}

func (a *API) getOp(r *Request) (*resource.Operation, error) {
	return a.svc.GetOperation(r.Ctx(), r.Param("id"))
}

func (a *API) operationStatus(r *Request) (any, error) {
	op, err := a.getOp(r)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"id": r.URL.Path, "name": op.ID, "status": op.Status, "startTime": armTime(op.CreatedAt)}
	h := http.Header{}
	if op.Terminal() {
		body["endTime"] = armTime(op.UpdatedAt)
		if op.Status != resource.OpSucceeded {
			body["error"] = map[string]any{"code": op.ErrorCode, "message": op.ErrorMsg}
		}
	} else {
		h.Set("Retry-After", "1")
	}
	return &Response{Status: http.StatusOK, Header: h, Body: body}, nil
}

func (a *API) operationResult(r *Request) (any, error) {
	op, err := a.getOp(r)
	if err != nil {
		return nil, err
	}
	switch op.Status {
	case resource.OpInProgress:
		h := http.Header{}
		h.Set("Retry-After", "1")
		h.Set("Location", r.BaseURL()+r.URL.RequestURI())
		return &Response{Status: http.StatusAccepted, Header: h}, nil
	case resource.OpSucceeded:
		return &Response{Status: http.StatusOK, Body: map[string]any{"status": op.Status}}, nil
	default:
		code := op.ErrorCode
		if code == "" {
			code = op.Status
		}
		return nil, &core.Error{Status: http.StatusBadRequest, Code: code, Message: op.ErrorMsg}
	}
}
