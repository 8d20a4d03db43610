package httpapi

import (
	"net/http"
	"slices"
	"strings"
)

// router matches paths segment by segment. Literal segments compare without
// regard to case, as ARM does ("resourceGroups" = "resourcegroups"); {name}
// segments capture the value as sent; a final {name...} captures the rest.
type router struct {
	root node
}

type node struct {
	lit      map[string]*node
	param    *node
	rest     *node
	name     string
	handlers map[string]*route
}

type route struct {
	method  string
	pattern string
	h       handlerFunc
	public  bool
	raw     bool
	// access is the route's policy (access.go); classified is false for
	// a route missing from routeAccess.
	access     policy
	classified bool
}

func (rt *router) add(r *route) {
	n := &rt.root
	for _, seg := range splitPath(r.pattern) {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}"):
			if n.rest == nil {
				n.rest = &node{name: seg[1 : len(seg)-4]}
			}
			n = n.rest
		case strings.HasPrefix(seg, "{"):
			if n.param == nil {
				n.param = &node{name: seg[1 : len(seg)-1]}
			}
			n = n.param
		default:
			if n.lit == nil {
				n.lit = map[string]*node{}
			}
			k := strings.ToLower(seg)
			if n.lit[k] == nil {
				n.lit[k] = &node{}
			}
			n = n.lit[k]
		}
	}
	if n.handlers == nil {
		n.handlers = map[string]*route{}
	}
	if _, dup := n.handlers[r.method]; dup {
		panic("duplicate route " + r.method + " " + r.pattern)
	}
	n.handlers[r.method] = r
}

// match returns the route for method and path, the captured parameters, and
// whether the path matched any route at all (for 405 versus 404). A route
// of the request's method wins over one of another method that matches the
// same path, so a literal segment does not hide a parameter ("GET
// jobs/cancel" is the job named cancel even when "POST jobs/cancel" exists).
func (rt *router) match(method, path string) (*route, map[string]string, bool) {
	segs := splitPath(path)
	params := map[string]string{}
	if n := rt.root.find(segs, params, method); n != nil {
		return n.route(method), params, true
	}
	// ARM ignores empty segments: azure-cli's generic calls write
	// "providers/{namespace}//{type}/{name}" for a resource without a
	// parent. Only a path that matches nothing as sent is read that way,
	// so that a blob or file name keeps its own "//".
	if dense := slices.DeleteFunc(slices.Clone(segs), func(s string) bool { return s == "" }); len(dense) < len(segs) {
		params = map[string]string{}
		if n := rt.root.find(dense, params, method); n != nil {
			return n.route(method), params, true
		}
		segs = dense
	}
	return nil, nil, rt.root.find(segs, map[string]string{}, "") != nil
}

// route returns the node's handler for method; HEAD falls back to GET.
func (n *node) route(method string) *route {
	if r := n.handlers[method]; r != nil {
		return r
	}
	if method == http.MethodHead {
		return n.handlers[http.MethodGet]
	}
	return nil
}

// serves reports whether the node ends a route of method ("" for any).
func (n *node) serves(method string) bool {
	if method == "" {
		return n.handlers != nil
	}
	return n.route(method) != nil
}

func (n *node) find(segs []string, params map[string]string, method string) *node {
	if len(segs) == 0 {
		if n.serves(method) {
			return n
		}
		if n.rest != nil && n.rest.serves(method) {
			params[n.rest.name] = ""
			return n.rest
		}
		return nil
	}
	if c := n.lit[strings.ToLower(segs[0])]; c != nil {
		if m := c.find(segs[1:], params, method); m != nil {
			return m
		}
	}
	if n.param != nil && segs[0] != "" {
		if m := n.param.find(segs[1:], params, method); m != nil {
			params[n.param.name] = segs[0]
			return m
		}
	}
	if n.rest != nil && n.rest.serves(method) {
		params[n.rest.name] = strings.Join(segs, "/")
		return n.rest
	}
	return nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// all returns every registered route, for tests that must cover each one
// (the access matrix).
func (rt *router) all() []*route {
	var out []*route
	var walk func(n *node)
	walk = func(n *node) {
		for _, r := range n.handlers {
			out = append(out, r)
		}
		for _, c := range n.lit {
			walk(c)
		}
		if n.param != nil {
			walk(n.param)
		}
		if n.rest != nil {
			walk(n.rest)
		}
	}
	walk(&rt.root)
	return out
}
