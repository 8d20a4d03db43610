package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

func runRegistry(t *testing.T, setup setupFunc) {
	t.Run("Registry", func(t *testing.T) {
		b := setup(t)
		m := &tracking.RegisteredModel{Workspace: ws1, Name: "m", CreationTime: 1, LastUpdatedTime: 1, Tags: []tracking.KV{{Key: "a", Value: "b"}}}
		require.NoError(t, b.s.CreateRegisteredModel(b.ctx, m))
		require.ErrorIs(t, b.s.CreateRegisteredModel(b.ctx, m), store.ErrExists)
		require.NoError(t, b.s.CreateRegisteredModel(b.ctx, &tracking.RegisteredModel{Workspace: ws2, Name: "m"}), "names are per workspace")
		for want := int64(1); want <= 2; want++ {
			v := &tracking.ModelVersion{Workspace: ws1, Name: "m", Source: "s", CurrentStage: tracking.StageNone}
			require.NoError(t, b.s.CreateModelVersion(b.ctx, v))
			require.Equal(t, want, v.Version)
		}
		require.ErrorIs(t, b.s.CreateModelVersion(b.ctx, &tracking.ModelVersion{Workspace: ws1, Name: "none"}), store.ErrNotFound)
		// A number of one's own (Azure ML's PUT of a version), then the
		// next after the highest; Azure ML's fields stay with the row.
		az := tracking.AzureMLAsset{ModelType: "custom_model", Archived: true, Properties: map[string]string{"p": "q"},
			Flavors: map[string]map[string]string{"python_function": {"loader_module": "m"}}, Extra: map[string]any{"x": "y"}}
		require.NoError(t, b.s.CreateModelVersion(b.ctx, &tracking.ModelVersion{Workspace: ws1, Name: "m", Version: 7, Source: "s7", AzureML: az}))
		require.ErrorIs(t, b.s.CreateModelVersion(b.ctx, &tracking.ModelVersion{Workspace: ws1, Name: "m", Version: 7}), store.ErrExists)
		got7, err := b.s.GetModelVersion(b.ctx, ws1, "m", 7)
		require.NoError(t, err)
		require.Equal(t, az, got7.AzureML)
		next := &tracking.ModelVersion{Workspace: ws1, Name: "m"}
		require.NoError(t, b.s.CreateModelVersion(b.ctx, next))
		require.Equal(t, int64(8), next.Version)
		require.NoError(t, b.s.DeleteModelVersion(b.ctx, ws1, "m", 7))
		require.NoError(t, b.s.DeleteModelVersion(b.ctx, ws1, "m", 8))
		v, err := b.s.UpdateModelVersion(b.ctx, ws1, "m", 2, func(v *tracking.ModelVersion) error { v.CurrentStage = tracking.StageProduction; return nil })
		require.NoError(t, err)
		require.Equal(t, tracking.StageProduction, v.CurrentStage)
		got, err := b.s.UpdateRegisteredModel(b.ctx, ws1, "m", func(m *tracking.RegisteredModel) error {
			m.Aliases = map[string]string{"champion": "2"}
			m.AzureML.Archived = true
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, "2", got.Aliases["champion"])
		got, err = b.s.GetRegisteredModel(b.ctx, ws1, "m")
		require.NoError(t, err)
		require.True(t, got.AzureML.Archived)
		require.NoError(t, b.s.RenameRegisteredModel(b.ctx, ws1, "m", "m2", 5))
		vs, err := b.s.ListModelVersions(b.ctx, ws1, "m2")
		require.NoError(t, err)
		require.Len(t, vs, 2)
		require.Equal(t, tracking.StageProduction, vs[1].CurrentStage)
		require.Equal(t, "s", vs[1].Source)
		ms, err := b.s.ListRegisteredModels(b.ctx, ws1)
		require.NoError(t, err)
		require.Len(t, ms, 1)
		require.Equal(t, "champion", func() string {
			for k := range ms[0].Aliases {
				return k
			}
			return ""
		}())
		require.NoError(t, b.s.DeleteModelVersion(b.ctx, ws1, "m2", 1))
		require.ErrorIs(t, b.s.DeleteModelVersion(b.ctx, ws1, "m2", 1), store.ErrNotFound)
		require.NoError(t, b.s.DeleteRegisteredModel(b.ctx, ws1, "m2"))
		vs, err = b.s.ListModelVersions(b.ctx, ws1, "")
		require.NoError(t, err)
		require.Empty(t, vs)
		_, err = b.s.GetRegisteredModel(b.ctx, ws1, "m2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
