package api

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeTree creates files (slash paths → contents) under a new folder
// named name and returns the folder.
func writeTree(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	for p, body := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(body), 0o644))
	}
	require.NoError(t, os.MkdirAll(root, 0o755))
	return root
}

func rels(s *Snapshot) []string {
	var out []string
	for _, f := range s.Files {
		out = append(out, f.Rel)
	}
	return out
}

func TestSnapshotIgnoreRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "amlignore wins over gitignore",
			files: map[string]string{
				".amlignore": "*.csv\n", ".gitignore": "*.py\n",
				"train.py": "x", "data.csv": "1", "sub/more.py": "y",
			},
			want: []string{".amlignore", ".gitignore", "sub/more.py", "train.py"},
		},
		{
			name: "gitignore without amlignore",
			files: map[string]string{
				".gitignore": "# comment\n__pycache__/\n*.pyc\noutputs/\n/secret.txt\n",
				"train.py":   "x", "__pycache__/train.cpython-311.pyc": "b", "lib/a.pyc": "c", "lib/a.py": "d",
				"outputs/model.pkl": "m", "secret.txt": "s", "lib/secret.txt": "kept: the pattern is anchored",
			},
			want: []string{".gitignore", "lib/a.py", "lib/secret.txt", "train.py"},
		},
		{
			name:  "negation",
			files: map[string]string{".amlignore": "*.log\n!keep.log\n", "a.log": "1", "keep.log": "2", "run.py": "3"},
			want:  []string{".amlignore", "keep.log", "run.py"},
		},
		{
			name:  "no ignore file",
			files: map[string]string{"b.py": "1", "A.py": "2", "dir/c.py": "3"},
			want:  []string{"A.py", "b.py", "dir/c.py"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, "src", tt.files)
			s, err := NewSnapshot(root, SnapshotLimits{})
			require.NoError(t, err)
			require.Equal(t, tt.want, rels(s), "files in upload order (sorted by local path)")
			require.Equal(t, "src", s.Name)
			require.Regexp(t, `^[0-9a-f]{32}$`, s.Hash)
			require.Regexp(t, `^[0-9a-f]{64}$`, s.ContentHash)
			require.Equal(t, "LocalUpload/"+s.Hash+"/src/"+tt.want[0], s.BlobName(s.Files[0]), "the indicator file")
		})
	}
}

func TestSnapshotHashIsContentAddressed(t *testing.T) {
	t.Parallel()
	files := map[string]string{"train.py": "print(1)\n", "data/x.csv": "a,b\n", ".amlignore": "*.tmp\n"}
	a, err := NewSnapshot(writeTree(t, "src", files), SnapshotLimits{})
	require.NoError(t, err)
	b, err := NewSnapshot(writeTree(t, "src", files), SnapshotLimits{})
	require.NoError(t, err)
	require.Equal(t, a.Hash, b.Hash, "identical content in another place has the same hash")
	require.Equal(t, a.ContentHash, b.ContentHash)
	require.Equal(t, a.BlobFolder(), b.BlobFolder())

	ignored := map[string]string{"scratch.tmp": "anything"}
	for k, v := range files {
		ignored[k] = v
	}
	c, err := NewSnapshot(writeTree(t, "src", ignored), SnapshotLimits{})
	require.NoError(t, err)
	require.Equal(t, a.Hash, c.Hash, "ignored files do not change the hash")

	changed := map[string]string{"train.py": "print(2)\n", "data/x.csv": "a,b\n", ".amlignore": "*.tmp\n"}
	d, err := NewSnapshot(writeTree(t, "src", changed), SnapshotLimits{})
	require.NoError(t, err)
	require.NotEqual(t, a.Hash, d.Hash)
	require.NotEqual(t, a.ContentHash, d.ContentHash)

	renamed := map[string]string{"train2.py": "print(1)\n", "data/x.csv": "a,b\n", ".amlignore": "*.tmp\n"}
	e, err := NewSnapshot(writeTree(t, "src", renamed), SnapshotLimits{})
	require.NoError(t, err)
	require.NotEqual(t, a.Hash, e.Hash)
}

func TestSnapshotSingleFile(t *testing.T) {
	t.Parallel()
	root := writeTree(t, "in", map[string]string{"data.csv": "a\n1\n"})
	s, err := NewSnapshot(filepath.Join(root, "data.csv"), SnapshotLimits{})
	require.NoError(t, err)
	require.True(t, s.IsFile)
	require.Equal(t, "LocalUpload/"+s.Hash+"/data.csv", s.BlobName(s.Files[0]))
}

func TestSnapshotLimits(t *testing.T) {
	t.Parallel()
	root := writeTree(t, "src", map[string]string{
		"train.py": "x", "big.bin": strings.Repeat("b", 600), "mid.bin": strings.Repeat("m", 300), "d/e.txt": "e",
	})
	_, err := NewSnapshot(root, SnapshotLimits{MaxBytes: 500, MaxFiles: 10})
	var tl *SnapshotTooLargeError
	require.True(t, errors.As(err, &tl), "%v", err)
	require.Equal(t, "the code folder "+root+" holds 902 B in 4 files; a code snapshot may hold at most 500 B in 10 files. Biggest files: big.bin (600 B), mid.bin (300 B), d/e.txt (1 B), train.py (1 B). List what the job does not need in .amlignore (same syntax as .gitignore) in that folder, and pass data as a job input instead.", err.Error())

	_, err = NewSnapshot(root, SnapshotLimits{MaxFiles: 3})
	require.ErrorAs(t, err, &tl)
	require.Contains(t, err.Error(), "in 4 files; a code snapshot may hold at most 300 MB in 3 files")

	require.Equal(t, "300 MB", FormatBytes(MaxSnapshotBytes))
	require.Equal(t, "1.5 KB", FormatBytes(1536))
}

// TestSnapshotStopsFarOverTheLimit: a folder far over the file limit (a
// link to a big tree, node_modules) is not walked to its end: the walk
// stops at 100 times the limit, in every folder, and says "at least".
func TestSnapshotStopsFarOverTheLimit(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	for d := range 60 {
		for f := range 3 {
			files[fmt.Sprintf("d%02d/f%d.txt", d, f)] = "x"
		}
	}
	root := writeTree(t, "src", files)
	_, err := NewSnapshot(root, SnapshotLimits{MaxFiles: 1})
	var tl *SnapshotTooLargeError
	require.ErrorAs(t, err, &tl)
	require.Equal(t, 101, tl.Files, "the walk stopped at the first file past 100 times the limit")
	require.Contains(t, err.Error(), "at least 101 files")
}

func TestSnapshotEmpty(t *testing.T) {
	t.Parallel()
	root := writeTree(t, "src", map[string]string{".amlignore": "*\n"})
	_, err := NewSnapshot(root, SnapshotLimits{})
	require.ErrorContains(t, err, "is empty (or every file in it is excluded by .amlignore)")
	_, err = NewSnapshot(filepath.Join(root, "nope"), SnapshotLimits{})
	require.ErrorContains(t, err, "does not exist")
}

// pydashStub stands in for the pydash module that Debian's python3-azure
// lacks (azureml-protocol §0), so that the real SDK can be imported.
const pydashStub = `
def get(obj, path, default=None):
    cur = obj
    for p in str(path).split("."):
        try:
            cur = cur[p] if isinstance(cur, dict) else getattr(cur, p)
        except Exception:
            return default
    return cur
def omit(obj, *keys):
    return {k: v for k, v in obj.items() if k not in keys}
class objects:
    @staticmethod
    def set_(obj, path, value):
        cur = obj
        parts = str(path).split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
        return obj
`

// TestSnapshotHashesMatchAzureSDK computes both hashes with the real
// azure-ai-ml (Debian's python3-azure) and requires the same values, so
// that the SDK and mlw share uploads of the same code.
func TestSnapshotHashesMatchAzureSDK(t *testing.T) {
	t.Parallel()
	const sdk = "/usr/lib/python3/dist-packages/azure/ai/ml/_utils/_asset_utils.py"
	if _, err := os.Stat(sdk); err != nil {
		t.Skip("python3-azure (azure-ai-ml) is not installed")
	}
	stub := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(stub, "pydash"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(stub, "pydash", "__init__.py"), []byte(pydashStub), 0o644))
	root := writeTree(t, "src", map[string]string{
		".amlignore": "logs/\n*.pyc\n", "train.py": "print(1)\n", "Data/x.csv": "a,b\n1,2\n",
		"sub/B.txt": "hi\n", "sub/a.txt": "lower\n", "logs/l.txt": "ignored", "cache.pyc": "zz", "empty.txt": "",
	})
	require.NoError(t, os.MkdirAll(filepath.Join(root, "emptydir"), 0o755))
	script := `import sys
from azure.ai.ml._utils._asset_utils import get_object_hash, get_content_hash, get_ignore_file
ig = get_ignore_file(sys.argv[1])
print(get_object_hash(sys.argv[1], ig))
print(get_content_hash(sys.argv[1], ig))`
	cmd := exec.Command("/usr/bin/python3", "-c", script, root)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+stub)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Fields(string(out))
	require.Len(t, lines, 2, string(out))

	s, err := NewSnapshot(root, SnapshotLimits{})
	require.NoError(t, err)
	require.Equal(t, lines[0], s.Hash, "object hash (the LocalUpload folder)")
	require.Equal(t, lines[1], s.ContentHash, "content hash (hash_sha256)")
}
