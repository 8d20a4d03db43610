package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files in an mlw home directory (MLW_HOME, ~/.mlw by default). The server
// writes the first three; the CLI writes the profile.
const (
	LocalServerFile = "server.json"
	LocalTokenFile  = "token"
	LocalCAFile     = "ca.crt"
	ProfileFile     = "cli.json"
)

// LocalServer is what a running server writes to its data directory.
type LocalServer struct {
	URL          string `json:"url"`
	PID          int    `json:"pid"`
	Subscription string `json:"subscription"`
}

// Profile is the CLI's saved configuration (`mlw login`, `mlw configure`).
type Profile struct {
	Server       string            `json:"server,omitempty"`
	Token        string            `json:"token,omitempty"`
	CAFile       string            `json:"caFile,omitempty"`
	Subscription string            `json:"subscription,omitempty"`
	Defaults     map[string]string `json:"defaults,omitempty"`
}

// Home returns MLW_HOME, or ~/.mlw.
func Home() string {
	if h := os.Getenv("MLW_HOME"); h != "" {
		return h
	}
	d, err := os.UserHomeDir()
	if err != nil {
		return ".mlw"
	}
	return filepath.Join(d, ".mlw")
}

// LoadProfile reads the profile in home; a missing file is an empty profile.
func LoadProfile(home string) (*Profile, error) {
	p := &Profile{Defaults: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(home, ProfileFile))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", filepath.Join(home, ProfileFile), err)
	}
	if p.Defaults == nil {
		p.Defaults = map[string]string{}
	}
	return p, nil
}

// Save writes the profile (mode 0600: it may hold a token).
func (p *Profile) Save(home string) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	path := filepath.Join(home, ProfileFile)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// Connection says how to reach a server.
type Connection struct {
	Server       string
	Token        string
	CAFile       string
	Subscription string
}

// Resolve finds the server to talk to, in this order: explicit values
// (flags), the MLW_SERVER / MLW_TOKEN / MLW_CA_FILE environment, the saved
// profile, and a server running on this machine from the home directory.
func Resolve(home string, explicit Connection) (Connection, error) {
	c := explicit
	envOr := func(v *string, key string) {
		if *v == "" {
			*v = os.Getenv(key)
		}
	}
	envOr(&c.Server, "MLW_SERVER")
	envOr(&c.Token, "MLW_TOKEN")
	envOr(&c.CAFile, "MLW_CA_FILE")
	envOr(&c.Subscription, "MLW_SUBSCRIPTION")
	if p, err := LoadProfile(home); err == nil && (c.Server == "" || c.Server == p.Server) {
		if c.Server == "" {
			c.Server = p.Server
		}
		if c.Token == "" {
			c.Token = p.Token
		}
		if c.CAFile == "" {
			c.CAFile = p.CAFile
		}
		if c.Subscription == "" {
			c.Subscription = p.Subscription
		}
	}
	var local LocalServer
	if b, err := os.ReadFile(filepath.Join(home, LocalServerFile)); err == nil {
		_ = json.Unmarshal(b, &local)
	}
	if c.Server == "" {
		if local.URL == "" {
			return c, fmt.Errorf("no mlw server found: start one with `mlw server` (it writes %s), or run `mlw login --server URL --token TOKEN`, or set MLW_SERVER and MLW_TOKEN",
				filepath.Join(home, LocalServerFile))
		}
		c.Server = local.URL
	}
	if strings.TrimRight(c.Server, "/") == strings.TrimRight(local.URL, "/") && local.URL != "" {
		if c.Token == "" {
			if b, err := os.ReadFile(filepath.Join(home, LocalTokenFile)); err == nil {
				c.Token = strings.TrimSpace(string(b))
			}
		}
		if c.CAFile == "" {
			c.CAFile = filepath.Join(home, LocalCAFile)
		}
		if c.Subscription == "" {
			c.Subscription = local.Subscription
		}
	}
	return c, nil
}

// Connect builds a client from a resolved connection.
func Connect(c Connection) (*Client, error) {
	ca, err := ReadCAFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	cl, err := NewClient(c.Server, c.Token, ca)
	if err != nil {
		return nil, err
	}
	cl.Subscription = c.Subscription
	return cl, nil
}
