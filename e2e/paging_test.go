package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// listAll follows nextLink verbatim, as the Azure SDKs do, and returns the
// names on every page plus the number of pages.
func listAll(t *testing.T, s *Server, path string) (names []string, pages int) {
	t.Helper()
	for next := path; next != ""; pages++ {
		r := s.Do(t, http.MethodGet, next, nil)
		require.Equal(t, http.StatusOK, r.StatusCode, r)
		var page struct {
			Value []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"value"`
			NextLink *string `json:"nextLink"`
		}
		r.Decode(t, &page)
		for _, v := range page.Value {
			names = append(names, v.ID)
		}
		next = ""
		if page.NextLink != nil {
			next = *page.NextLink
			require.True(t, strings.HasPrefix(next, s.URL+"/"), "nextLink must be absolute: %s", next)
			u, err := url.Parse(next)
			require.NoError(t, err)
			require.NotEmpty(t, u.Query().Get("api-version"), "nextLink must repeat the api-version: %s", next)
			require.NotEmpty(t, page.Value, "a page with a nextLink must not be empty")
		}
		require.Less(t, pages, 1000, "nextLink never ends")
	}
	return names, pages
}

func requireOnce(t *testing.T, got []string, want map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		require.Equal(t, 1, seen[id], "%s listed twice", id)
		require.True(t, want[id], "%s listed but never created", id)
	}
	require.Len(t, seen, len(want), "some resources were not listed")
}

// TestPaging: lists longer than a page end with a nextLink that, followed
// verbatim, yields every item exactly once.
func TestPaging(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})

	// 105 groups: more than the default page of 100. Mixed case checks
	// that the order is the case-insensitive one the skip token assumes.
	const n = 105
	want := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("rg-%03d", i)
		if i%3 == 0 {
			name = strings.ToUpper(name)
		}
		r := s.Do(t, http.MethodPut, s.GroupPath(name), map[string]any{"location": "eastus"})
		require.Equal(t, http.StatusCreated, r.StatusCode, r)
		want[s.GroupPath(name)] = true
	}
	require.Len(t, want, n)

	groups := "/subscriptions/" + s.Subscription + "/resourceGroups"
	got, pages := listAll(t, s, groups)
	require.Equal(t, 2, pages, "100 on the first page, 5 on the second")
	requireOnce(t, got, want)

	got, pages = listAll(t, s, groups+"?$top=7")
	require.Equal(t, 15, pages)
	requireOnce(t, got, want)

	// The Azure ML SDK pages datastores with count=...
	got, pages = listAll(t, s, groups+"?count=50")
	require.Equal(t, 3, pages)
	requireOnce(t, got, want)

	// The CLI follows nextLink too.
	var listed []map[string]any
	s.MustRunJSON(t, &listed, "group", "list")
	require.Len(t, listed, n)

	r := s.Do(t, http.MethodGet, groups+"?$skipToken=%21%21not-a-token", nil)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, r)
	require.Equal(t, "$skipToken", r.Error(t).Target)
}

// TestPagingAcrossGroups: a subscription-wide list of workspaces pages
// correctly when names repeat in several groups (the skip token must
// carry the parent as well as the name).
func TestPagingAcrossGroups(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	want := map[string]bool{}
	for _, g := range []string{"rg-b", "rg-a", "rg-c"} {
		s.MustRun(t, "group", "create", "-n", g, "-l", "eastus")
		for _, w := range []string{"shared", "only-" + g} {
			r := s.Do(t, http.MethodPut, s.WorkspacePath(g, w), map[string]any{})
			require.Equal(t, http.StatusOK, r.StatusCode, r)
			want[s.WorkspacePath(g, w)] = true
		}
	}
	all := "/subscriptions/" + s.Subscription + "/providers/Microsoft.MachineLearningServices/workspaces"
	for _, top := range []int{1, 2, 4, 100} {
		got, _ := listAll(t, s, fmt.Sprintf("%s?$top=%d", all, top))
		requireOnce(t, got, want)
	}
}
