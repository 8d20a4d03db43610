package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// FileInfo is one entry of a workspace file share.
type FileInfo struct {
	Path         string    `json:"path"`
	IsDirectory  bool      `json:"isDirectory"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
}

// FilesPath is the API path of a workspace's file share, or of one path in
// it (segments escaped).
func FilesPath(sub, group, ws, p string) string {
	base := WorkspacePath(sub, group, ws) + "/files"
	p = strings.Trim(p, "/")
	if p == "" {
		return base
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return base + "/" + strings.Join(segs, "/")
}

// raw sends a request with a streamed body and returns the response for
// the caller to read (and close). Non-2xx answers come back as *Error.
// Transfers have no overall timeout: a large file may take long.
func (c *Client) raw(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	u := c.BaseURL + path
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	u += sep + "api-version=" + DefaultAPIVersion
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the mlw server at %s: %w", c.BaseURL, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var env struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil && env.Error != nil {
			env.Error.StatusCode = resp.StatusCode
			return nil, env.Error
		}
		return nil, &Error{StatusCode: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
	}
	return resp, nil
}

func (c *Client) filesPath(ctx context.Context, group, ws, p string) (string, error) {
	sub, err := c.SubscriptionID(ctx)
	if err != nil {
		return "", err
	}
	return FilesPath(sub, group, ws, p), nil
}

// ListFiles lists a directory of a workspace's file share ("" is the
// root); recursive lists the whole tree. A file lists as itself.
func (c *Client) ListFiles(ctx context.Context, group, ws, p string, recursive bool) ([]FileInfo, error) {
	base, err := c.filesPath(ctx, group, ws, "")
	if err != nil {
		return nil, err
	}
	q := url.Values{"path": {strings.Trim(p, "/")}}
	if recursive {
		q.Set("recursive", "true")
	}
	var out List[FileInfo]
	if _, err := c.Do(ctx, http.MethodGet, base+"?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// UploadFile writes one file of a workspace's file share from body (size
// bytes, or -1 when unknown). Without overwrite an existing file is an
// error.
func (c *Client) UploadFile(ctx context.Context, group, ws, p string, body io.Reader, size int64, overwrite bool) (*FileInfo, error) {
	path, err := c.filesPath(ctx, group, ws, p)
	if err != nil {
		return nil, err
	}
	if !overwrite {
		path += "?overwrite=false"
	}
	resp, err := c.raw(ctx, http.MethodPut, path, body, size)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var fi FileInfo
	if err := json.NewDecoder(resp.Body).Decode(&fi); err != nil {
		return nil, fmt.Errorf("decode upload answer: %w", err)
	}
	return &fi, nil
}

// MakeDir creates a directory (and its parents) in the file share.
func (c *Client) MakeDir(ctx context.Context, group, ws, p string) error {
	path, err := c.filesPath(ctx, group, ws, p)
	if err != nil {
		return err
	}
	_, err = c.Do(ctx, http.MethodPut, path+"?directory=true", nil, nil)
	return err
}

// DownloadFile opens one file of the share; the caller reads and closes
// the body. size is its length.
func (c *Client) DownloadFile(ctx context.Context, group, ws, p string) (body io.ReadCloser, size int64, err error) {
	path, err := c.filesPath(ctx, group, ws, p)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.raw(ctx, http.MethodGet, path, nil, 0)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// DeleteFile deletes a file, or a directory (recursive for a non-empty one).
func (c *Client) DeleteFile(ctx context.Context, group, ws, p string, recursive bool) error {
	path, err := c.filesPath(ctx, group, ws, p)
	if err != nil {
		return err
	}
	if recursive {
		path += "?recursive=true"
	}
	_, err = c.Do(ctx, http.MethodDelete, path, nil, nil)
	return err
}
