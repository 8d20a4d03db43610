package service

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/store"
)

// TestStoreErrRetryAfter: a change lost to a concurrent one is a 409 that
// a retry fixes (Retry-After 1 s); a name taken is a 409 that it cannot
// (none). The 409s of deletions and instance transitions are checked
// through the API (httpapi's TestConflictRetryAfter).
func TestStoreErrRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
		after  time.Duration
	}{
		{fmt.Errorf("update: %w", store.ErrConflict), http.StatusConflict, retryRace},
		{store.ErrExists, http.StatusConflict, 0},
		{store.ErrNotFound, http.StatusNotFound, 0},
	} {
		e, ok := core.AsError(storeErr(tc.err, "compute", "c1"))
		require.True(t, ok, tc.err)
		require.Equal(t, tc.status, e.Status, tc.err)
		require.Equal(t, tc.after, e.RetryAfter, tc.err)
	}
	require.Equal(t, time.Second, retryRace)
}
