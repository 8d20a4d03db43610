package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/blob"
	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// jobIO is what a job's inputs and outputs became on this machine.
type jobIO struct {
	inputs  map[string]string // name → literal value or local path
	outputs map[string]string // name → local path
	env     map[string]string // AZURE_ML_INPUT_<name>, AZURE_ML_OUTPUT_<name>
}

// blobPath is where a blob (or blob folder) of the workspace's storage is
// on disk: mlw's blob store keeps blobs as plain files.
func (r *Jobs) blobPath(loc *resource.DataLocation) string {
	p := filepath.Join(blob.ContainerDir(r.DataDir, loc.Account, loc.Container), filepath.FromSlash(path.Clean("/"+loc.Path)))
	return p
}

// DownloadTimeout bounds the download of one http(s) input.
var DownloadTimeout = 10 * time.Minute

// materialize makes a job's inputs available and its outputs writable.
// Inputs in the workspace's datastores are used in place (read-only
// mounts and direct access) or copied (download mode); http(s) inputs are
// downloaded. Outputs are folders of their datastore, written in place.
func (r *Jobs) materialize(ctx context.Context, j *jobCtx, inputsDir string) (*jobIO, error) {
	out := &jobIO{inputs: map[string]string{}, outputs: map[string]string{}, env: map[string]string{}}
	for name, in := range j.spec.Inputs {
		if strings.EqualFold(in.JobInputType, "literal") {
			out.inputs[name] = in.Literal()
			out.env["AZURE_ML_INPUT_"+name] = out.inputs[name]
			continue
		}
		loc, err := r.Assets.ResolveDataURI(ctx, j.ws, in.URI)
		if err != nil {
			if e, ok := core.AsError(err); ok && e.Status < 500 {
				return nil, prepFail("InputNotFound", "Input %s: %s", name, e.Message)
			}
			return nil, err
		}
		var p string
		if loc.URL != "" {
			if p, err = download(ctx, loc.URL, filepath.Join(inputsDir, name), strings.EqualFold(in.JobInputType, "uri_folder")); err != nil {
				return nil, prepFail("InputDownloadFailed", "Input %s: could not download %s: %v", name, loc.URL, err)
			}
			r.logf(j, "Input %s downloaded from %s.", name, loc.URL)
		} else {
			p = r.blobPath(loc)
			fi, err := os.Stat(p)
			if err != nil {
				return nil, prepFail("InputNotFound", "Input %s: %s does not exist in the workspace's storage (container %s, path %s).", name, in.URI, loc.Container, loc.Path)
			}
			if strings.EqualFold(in.JobInputType, "uri_folder") && !fi.IsDir() {
				return nil, prepFail("InputNotFound", "Input %s is a uri_folder, but %s is a file; use jobInputType uri_file.", name, in.URI)
			}
			if strings.EqualFold(in.Mode, "Download") {
				dst := filepath.Join(inputsDir, name, filepath.Base(p))
				if err := copyTree(p, dst); err != nil {
					return nil, fmt.Errorf("download input %s: %w", name, err)
				}
				p = dst
			}
		}
		out.inputs[name] = p
		out.env["AZURE_ML_INPUT_"+name] = p
	}
	for name, o := range j.spec.Outputs {
		uri := o.URI
		if uri == "" {
			uri = "azureml://datastores/" + resource.DatastoreBlob + "/paths/" + resource.JobNamedOutputPath(j.job.Name, name)
		}
		loc, err := r.Assets.ResolveDataURI(ctx, j.ws, uri)
		if err != nil {
			if e, ok := core.AsError(err); ok && e.Status < 500 {
				return nil, prepFail("OutputNotWritable", "Output %s: %s", name, e.Message)
			}
			return nil, err
		}
		if loc.URL != "" {
			return nil, prepFail("OutputNotWritable", "Output %s: %s is outside the workspace's storage; outputs go to a datastore (azureml://datastores/<datastore>/paths/<path>).", name, uri)
		}
		p := r.blobPath(loc)
		dir := p
		if strings.EqualFold(o.JobOutputType, "uri_file") {
			if strings.HasSuffix(uri, "/") {
				p = filepath.Join(p, name)
			}
			dir = filepath.Dir(p)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create output %s: %w", name, err)
		}
		out.outputs[name] = p
		out.env["AZURE_ML_OUTPUT_"+name] = p
	}
	return out, nil
}

// download fetches an http(s) input into dir and returns the file's path.
func download(ctx context.Context, url, dir string, folder bool) (string, error) {
	if folder {
		return "", errors.New("a uri_folder cannot be read over http(s); upload the folder to a datastore")
	}
	ctx, cancel := context.WithTimeout(ctx, DownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the server answered %s", resp.Status)
	}
	name := path.Base(strings.SplitN(url, "?", 2)[0])
	if name == "" || name == "/" || name == "." {
		name = "input"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}

var (
	ioRefRE    = regexp.MustCompile(`\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	optionalRE = regexp.MustCompile(`\$\[\[(.*?)\]\]`)
)

// substitute replaces ${{inputs.x}} and ${{outputs.y}} in a command. An
// optional block $[[ … ]] stays (without its brackets) when every input it
// names was given, and disappears otherwise.
func substitute(command string, dio *jobIO) (string, error) {
	lookup := func(kind, name string) (string, bool) {
		if kind == "inputs" {
			v, ok := dio.inputs[name]
			return v, ok
		}
		v, ok := dio.outputs[name]
		return v, ok
	}
	command = optionalRE.ReplaceAllStringFunc(command, func(block string) string {
		inner := optionalRE.FindStringSubmatch(block)[1]
		for _, m := range ioRefRE.FindAllStringSubmatch(inner, -1) {
			if _, ok := lookup(m[1], m[2]); !ok {
				return ""
			}
		}
		return inner
	})
	var missing []string
	out := ioRefRE.ReplaceAllStringFunc(command, func(ref string) string {
		m := ioRefRE.FindStringSubmatch(ref)
		v, ok := lookup(m[1], m[2])
		if !ok {
			missing = append(missing, m[1]+"."+m[2])
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", prepFail("InvalidCommand", "The command uses %s, which the job does not define; add them to the job's inputs or outputs (or wrap optional ones in $[[ ]]).",
			"${{"+strings.Join(missing, "}}, ${{")+"}}")
	}
	return out, nil
}

// copyTree copies a file or a directory tree (files, directories,
// symbolic links), keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil // sockets, devices: skipped
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// appendLine appends a line to a file, creating it and its directory.
func appendLine(p, line string) {
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line + "\n")
}

// lastLines returns up to n last lines (at most max bytes) of a file.
func lastLines(p string, n, max int) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := fi.Size() - int64(max)
	if off < 0 {
		off = 0
	}
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	s := strings.TrimRight(string(b), "\n")
	lines := strings.Split(s, "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // the first line is cut
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
