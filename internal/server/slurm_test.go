package server

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSlurmAccounts(t *testing.T) {
	got, err := parseSlurmAccounts(" alice=alice, bob = bsmith ,*=mlwjobs,")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"alice": "alice", "bob": "bsmith", "*": "mlwjobs"}, got)
	got, err = parseSlurmAccounts("")
	require.NoError(t, err)
	require.Empty(t, got)
	for _, bad := range []string{"alice", "=x", "alice="} {
		_, err := parseSlurmAccounts(bad)
		require.ErrorContains(t, err, "write it like alice=alice,*=mlwjobs", bad)
	}
}

func TestSlurmFromEnv(t *testing.T) {
	t.Setenv(SlurmSharedDirEnv, "")
	s, err := slurmFromEnv(nil)
	require.NoError(t, err)
	require.Nil(t, s, "no shared directory: no Slurm")
	t.Setenv(SlurmSharedDirEnv, "relative/dir")
	t.Setenv("PATH", t.TempDir()) // no sbatch
	_, err = slurmFromEnv(nil)
	require.ErrorContains(t, err, "sbatch is not on PATH")
}

func TestParseImages(t *testing.T) {
	got, err := parseImages(" AzureML-sklearn-1.0-ubuntu20.04-py38-cpu = reg/sk:1 , my-env:3=reg/my:3,")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": "reg/sk:1", "my-env:3": "reg/my:3"}, got)
	_, err = parseImages("my-env")
	require.ErrorContains(t, err, `MLW_K8S_IMAGES: "my-env" is not environment=image; write it like AzureML-sklearn`)
}
