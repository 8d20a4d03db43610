package api

import (
	"context"
	"net/http"
)

// SignInLink is a one-time link that signs a browser in to an application
// of the server (a compute instance's Jupyter): opening it sets a session
// cookie for that application alone and leads to Target. It works once,
// until ExpiresOn.
type SignInLink struct {
	URL       string `json:"url"`
	ExpiresOn string `json:"expiresOn"`
	Target    string `json:"target"`
}

// CreateSignInLink asks for a one-time link to target, the path or URL of
// a browser application on the server.
func (c *Client) CreateSignInLink(ctx context.Context, target string) (*SignInLink, error) {
	var out SignInLink
	_, err := c.Do(ctx, http.MethodPost, "/mlw/v1/signin", map[string]string{"target": target}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
