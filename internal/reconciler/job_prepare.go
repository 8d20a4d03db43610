package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/mlw-project/mlw/internal/rooted"
)

// jobIO is what a job's inputs and outputs became on this machine.
type jobIO struct {
	inputs  map[string]string // name → literal value or local path
	outputs map[string]string // name → local path
	env     map[string]string // AZURE_ML_INPUT_<name>, AZURE_ML_OUTPUT_<name>
}

// storageData is a file or folder of a workspace's storage account, its
// symbolic links resolved inside the account.
type storageData struct {
	root *os.Root // the account's directory
	dir  string   // its path
	rel  string   // the data's real path in it, without links
}

// path is the data's real path on disk.
func (d *storageData) path() string { return filepath.Join(d.dir, filepath.FromSlash(d.rel)) }

// openData finds a location of the workspace's storage on disk (mlw's
// blob store keeps blobs as plain files) through an os.Root on the storage
// account. Links inside the account are followed; a path that leads out of
// it — through a link a user planted in the file share or in a job's
// outputs — fails with an error that rooted.IsOutside recognizes, so that
// the server, which runs as root, never copies, mounts, creates or gives a
// user anything outside storage. The caller closes d.root.
func (r *Jobs) openData(loc *resource.DataLocation) (*storageData, error) {
	dir := blob.AccountDir(r.DataDir, loc.Account)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	rel, err := rooted.Resolve(root, path.Join(loc.Container, path.Clean("/" + loc.Path)[1:]))
	if err != nil {
		root.Close()
		return nil, err
	}
	return &storageData{root: root, dir: dir, rel: rel}, nil
}

// linkOutside is the preparation failure of a job whose data path goes
// through a symbolic link out of the workspace's storage.
func linkOutside(code, what, uri string, err error) error {
	return prepFail(code, "%s: %s goes through a symbolic link that leads outside the workspace's storage, which jobs may not reach (%v). Point it at the folder the link names, if that is in a datastore, or remove the link.", what, uri, err)
}

// openJobs opens the directory a job's working directories and inputs are
// copied to (its jobRoot), creating it, as an os.Root: a copy never writes
// outside it, whatever links a job left there.
func (r *Jobs) openJobRoot(j *jobCtx) (*os.Root, error) {
	dir := r.jobRoot(j)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("the job's directory %s is not a directory", dir)
	}
	return os.OpenRoot(dir)
}

// logSkipped notes the symbolic links a copy left out.
func (r *Jobs) logSkipped(j *jobCtx, what string, skipped []string) {
	if len(skipped) > 0 {
		r.logf(j, "%s: left out %d symbolic link(s) that lead outside it: %s.", what, len(skipped), strings.Join(skipped, ", "))
	}
}

// DownloadTimeout bounds the download of one http(s) input.
var DownloadTimeout = 10 * time.Minute

// materialize makes a job's inputs available and its outputs writable.
// Inputs in the workspace's datastores are used in place (read-only
// mounts and direct access) or copied (download mode) into inputsDir, a
// directory of the job's jobRoot; http(s) inputs are downloaded. Outputs
// are folders of their datastore, written in place. Every path given to
// the job is the real one, without links (openData).
func (r *Jobs) materialize(ctx context.Context, j *jobCtx, inputsDir string) (*jobIO, error) {
	dio := &jobIO{inputs: map[string]string{}, outputs: map[string]string{}, env: map[string]string{}}
	for name, in := range j.spec.Inputs {
		if strings.EqualFold(in.JobInputType, "literal") {
			dio.inputs[name] = in.Literal()
			dio.env["AZURE_ML_INPUT_"+name] = dio.inputs[name]
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
		} else if p, err = r.storageInput(j, name, in, loc, inputsDir); err != nil {
			return nil, err
		}
		dio.inputs[name] = p
		dio.env["AZURE_ML_INPUT_"+name] = p
	}
	for name, o := range j.spec.Outputs {
		out, err := r.resolveOutput(ctx, j, name, o)
		if err != nil {
			return nil, err
		}
		p := out.data.path()
		out.data.root.Close()
		dio.outputs[name] = p
		dio.env["AZURE_ML_OUTPUT_"+name] = p
	}
	return dio, nil
}

// namedOutput is a job's named output in its datastore: the folder (or,
// for a uri_file, the file) the job writes, whose directory exists.
type namedOutput struct {
	data *storageData // the caller closes data.root
	file bool         // a uri_file: data is the file
}

// resolveOutput finds a named output's place in the workspace's storage
// and creates its folder (for a uri_file, the file's folder).
func (r *Jobs) resolveOutput(ctx context.Context, j *jobCtx, name string, o resource.JobOutput) (*namedOutput, error) {
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
	file := strings.EqualFold(o.JobOutputType, "uri_file")
	if file && strings.HasSuffix(uri, "/") {
		loc.Path = path.Join(loc.Path, name)
	}
	d, err := r.openData(loc)
	if rooted.IsOutside(err) {
		return nil, linkOutside("OutputNotWritable", "Output "+name, uri, err)
	} else if err != nil {
		return nil, err
	}
	dir := d.rel
	if file {
		dir = path.Dir(d.rel)
	}
	err = d.root.MkdirAll(dir, 0o755)
	if rooted.IsOutside(err) {
		d.root.Close()
		return nil, linkOutside("OutputNotWritable", "Output "+name, uri, err)
	} else if err != nil {
		d.root.Close()
		return nil, fmt.Errorf("create output %s: %w", name, err)
	}
	return &namedOutput{data: d, file: file}, nil
}

// storageInput is the path a job is given for an input of the workspace's
// storage: the data itself, or (download mode) a copy in inputsDir.
func (r *Jobs) storageInput(j *jobCtx, name string, in resource.JobInput, loc *resource.DataLocation, inputsDir string) (string, error) {
	d, err := r.openData(loc)
	if rooted.IsOutside(err) {
		return "", linkOutside("InputNotFound", "Input "+name, in.URI, err)
	} else if err != nil {
		return "", err
	}
	defer d.root.Close()
	fi, err := d.root.Stat(d.rel)
	if rooted.IsOutside(err) {
		return "", linkOutside("InputNotFound", "Input "+name, in.URI, err)
	} else if err != nil {
		return "", prepFail("InputNotFound", "Input %s: %s does not exist in the workspace's storage (container %s, path %s).", name, in.URI, loc.Container, loc.Path)
	}
	if strings.EqualFold(in.JobInputType, "uri_folder") && !fi.IsDir() {
		return "", prepFail("InputNotFound", "Input %s is a uri_folder, but %s is a file; use jobInputType uri_file.", name, in.URI)
	}
	if !strings.EqualFold(in.Mode, "Download") && j.st.Slurm == nil {
		return d.path(), nil // read in place (on Slurm, copied to the shared directory)
	}
	jr, err := r.openJobRoot(j)
	if err != nil {
		return "", err
	}
	defer jr.Close()
	dst := filepath.Join(inputsDir, name, path.Base(d.rel))
	rel, err := filepath.Rel(r.jobRoot(j), dst)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("download input %s: %s is not in the job's directory", name, dst)
	}
	skipped, err := rooted.Copy(d.root, d.rel, jr, rel)
	if rooted.IsOutside(err) {
		return "", linkOutside("InputNotFound", "Input "+name, in.URI, err)
	} else if err != nil {
		return "", fmt.Errorf("download input %s: %w", name, err)
	}
	r.logSkipped(j, "Input "+name, skipped)
	return dst, nil
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
