package httpapi

import (
	"net/http"
	"strconv"
	"strings"
)

// fileRoutes serve the workspace file share ("Notebooks"):
//
//	GET    {ws}/files?path=Users/me&recursive=true   list (JSON)
//	GET    {ws}/files/{path...}                      download (Range supported)
//	PUT    {ws}/files/{path...}[?overwrite=false]    upload the body (streamed)
//	PUT    {ws}/files/{path...}?directory=true       create a directory
//	DELETE {ws}/files/{path...}[?recursive=true]     delete
func (a *API) fileRoutes() {
	base := wsPath + "/files"
	a.Handle("GET", base, func(r *Request) (any, error) {
		q := r.URL.Query()
		files, err := a.svc.ListFiles(r.Ctx(), r.Workspace(), q.Get("path"), boolParam(q.Get("recursive")))
		if err != nil {
			return nil, err
		}
		return map[string]any{"value": files, "nextLink": nil}, nil
	})
	a.Handle("GET", base+"/{path...}", func(r *Request) (any, error) {
		f, fi, err := a.svc.OpenFile(r.Ctx(), r.Workspace(), r.Param("path"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r.W.Header().Set("Content-Type", "application/octet-stream")
		r.W.Header().Set("x-ms-file-path", fi.Path)
		http.ServeContent(r.W, r.Request, "", fi.Modified, f)
		return handled, nil
	})
	a.Handle("PUT", base+"/{path...}", func(r *Request) (any, error) {
		q := r.URL.Query()
		if boolParam(q.Get("directory")) {
			fi, err := a.svc.MakeDir(r.Ctx(), r.Workspace(), r.Param("path"))
			if err != nil {
				return nil, err
			}
			return &Response{Status: http.StatusCreated, Body: fi}, nil
		}
		overwrite := q.Get("overwrite") == "" || boolParam(q.Get("overwrite"))
		fi, isNew, err := a.svc.WriteFile(r.Ctx(), r.Workspace(), r.Param("path"), r.Request.Body, overwrite)
		if err != nil {
			return nil, err
		}
		return created(isNew, fi, nil), nil
	})
	a.Handle("DELETE", base+"/{path...}", func(r *Request) (any, error) {
		err := a.svc.DeleteFile(r.Ctx(), r.Workspace(), r.Param("path"), boolParam(r.URL.Query().Get("recursive")))
		return &Response{Status: http.StatusOK}, err
	})
}

func boolParam(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && b
}
