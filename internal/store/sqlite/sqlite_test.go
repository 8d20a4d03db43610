package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
	"github.com/mlw-project/mlw/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
		require.NoError(t, err)
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mlw.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.PutSetting(ctx, "k", "v"))
	require.NoError(t, s.Close())
	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.GetSetting(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", v)
}
