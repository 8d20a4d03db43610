package service

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

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

// skip tokens are opaque to clients: base64 of "name\x00parent", and of
// "name\x00parent\x00created" (microseconds) in a newest-first listing.
func encodeSkip(r *resource.Object, newest bool) string {
	tok := strings.ToLower(r.Name) + "\x00" + r.Parent
	if newest {
		tok += "\x00" + strconv.FormatInt(r.CreatedAt.UnixMicro(), 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(tok))
}

// decodeSkip sets where o continues from the token of the page before.
func decodeSkip(tok string, o *store.ListOptions) error {
	bad := core.Invalid("$skipToken", "The paging token is not valid; use the nextLink of the previous page as it is (a link from before mlw was upgraded no longer works: list again from the first page).")
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return bad
	}
	var ok bool
	o.After, o.AfterParent, ok = strings.Cut(string(b), "\x00")
	if !o.NewestFirst {
		return nil
	}
	var created string
	o.AfterParent, created, _ = strings.Cut(o.AfterParent, "\x00")
	us, err := strconv.ParseInt(created, 10, 64)
	if !ok || err != nil || us <= 0 {
		return bad
	}
	o.AfterCreated = time.UnixMicro(us).UTC()
	return nil
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
		if err := decodeSkip(p.Skip, &o); err != nil {
			return nil, "", err
		}
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
		o.After, o.AfterParent, o.AfterCreated = strings.ToLower(last.Name), last.Parent, last.CreatedAt
		if keep != nil {
			// A filter that keeps few rows (a search) reads in bigger
			// batches as it goes, so a long history costs few queries.
			o.Limit = min(o.Limit*2, 1000)
		}
	}
	if len(out) > p.Top {
		out = out[:p.Top]
		return out, encodeSkip(out[len(out)-1], o.NewestFirst), nil
	}
	return out, "", nil
}
