package service

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// DefaultPageSize is how many items a list returns before a nextLink.
const DefaultPageSize = 100

// Page asks for one page of a list: Top items after the Skip token.
type Page struct {
	Skip string
	Top  int
}

// skip tokens are opaque to clients: base64 of "name\x00parent".
func encodeSkip(r *resource.Object) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(r.Name) + "\x00" + r.Parent))
}

func decodeSkip(tok string) (name, parent string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", "", core.Invalid("$skipToken", "The paging token is not valid; use the nextLink of the previous page as it is.")
	}
	name, parent, _ = strings.Cut(string(b), "\x00")
	return name, parent, nil
}

// listPage lists one page and returns the token of the next (empty at the end).
func (s *Service) listPage(ctx context.Context, o store.ListOptions, p Page) ([]*resource.Object, string, error) {
	return s.listFiltered(ctx, o, p, nil)
}

// listFiltered is listPage for a filter the store cannot apply (keep; nil
// keeps every row): it reads rows in batches until the page is full.
func (s *Service) listFiltered(ctx context.Context, o store.ListOptions, p Page, keep func(*resource.Object) bool) ([]*resource.Object, string, error) {
	if p.Top <= 0 || p.Top > 1000 {
		p.Top = DefaultPageSize
	}
	if p.Skip != "" {
		name, parent, err := decodeSkip(p.Skip)
		if err != nil {
			return nil, "", err
		}
		o.After, o.AfterParent = name, parent
	}
	o.Limit = p.Top + 1 // one more than a page says whether a next one exists
	if keep != nil {
		o.Limit = max(o.Limit, 100)
	}
	var out []*resource.Object
	for len(out) <= p.Top {
		rs, err := s.Store.List(ctx, o)
		if err != nil {
			return nil, "", core.Internal(err)
		}
		for _, r := range rs {
			if keep == nil || keep(r) {
				out = append(out, r)
			}
		}
		if len(rs) < o.Limit {
			break
		}
		last := rs[len(rs)-1]
		o.After, o.AfterParent = strings.ToLower(last.Name), last.Parent
	}
	if len(out) > p.Top {
		out = out[:p.Top]
		return out, encodeSkip(out[len(out)-1]), nil
	}
	return out, "", nil
}
