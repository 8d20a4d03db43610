package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mlw-project/mlw/api"
)

var fileColumns = []column{
	{Header: "Path", Path: "path"},
	{Header: "Type", Func: func(d Doc) string {
		if d["isDirectory"] == true {
			return "directory"
		}
		return "file"
	}},
	{Header: "Size", Func: func(d Doc) string {
		if d["isDirectory"] == true {
			return ""
		}
		return humanBytes(int64(asFloat(d["size"])))
	}},
	{Header: "Modified", Path: "lastModified"},
}

func asFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressMin is the size from which a transfer shows a progress bar.
const progressMin = 1 << 20

// withProgress wraps r in a progress bar on a terminal for large files.
func (a *App) withProgress(r io.Reader, size int64, what string) (io.Reader, func()) {
	if !a.errIsTTY || size < progressMin {
		return r, func() {}
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(a.Err), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(what), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	pr := progressbar.NewReader(r, bar)
	return &pr, func() { _ = bar.Finish() }
}

func fileCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "file",
		Short: "Manage the workspace file share (Notebooks): Users/<you>/…",
		Long: `Upload, download, list and delete files of the workspace file share, the
"Notebooks" area of Azure ML Studio. Compute instances of the workspace see the
same files at ~/cloudfiles/code.`,
	}
	cmd.AddCommand(fileUploadCmd(app), fileDownloadCmd(app), fileListCmd(app), fileDeleteCmd(app))
	return cmd
}

// fileShare resolves the workspace of s and returns the client of its
// file share.
func (a *App) fileShare(s *scope) (*api.Client, error) {
	if err := a.resolveWorkspace(s); err != nil {
		return nil, err
	}
	return a.Client()
}

func fileUploadCmd(app *App) *cobra.Command {
	var s scope
	var source, remote string
	var noOverwrite bool
	cmd := &cobra.Command{
		Use:   "upload",
		Short: "Upload a file or a directory (recursively) to the file share",
		Example: `  mlw file upload --source compute-setup.sh --path Users/me/compute-setup.sh
  mlw file upload --source ./labs --path Users/me/labs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.fileShare(&s)
			if err != nil {
				return err
			}
			st, err := os.Stat(source)
			if err != nil {
				return fmt.Errorf("cannot read --source: %w", err)
			}
			if remote == "" {
				return errors.New("--path is required: where the file goes in the share, for example Users/<you>/" + filepath.Base(source))
			}
			u := &fileUploader{app: app, c: c, s: s, overwrite: !noOverwrite}
			if !st.IsDir() {
				err = u.put(cmd.Context(), source, remote, st.Size())
			} else {
				err = u.putTree(cmd.Context(), source, remote)
			}
			if err != nil {
				return err
			}
			app.errf("Uploaded %d file(s), %s, to %s.\n", len(u.uploaded), humanBytes(u.total), remote)
			return app.print(u.uploaded, fileColumns)
		},
	}
	cmd.Flags().StringVarP(&source, "source", "s", "", "local file or directory")
	cmd.Flags().StringVarP(&remote, "path", "p", "", "destination path in the share, e.g. Users/<you>/compute-setup.sh")
	cmd.Flags().BoolVar(&noOverwrite, "no-overwrite", false, "fail instead of replacing existing files")
	addWorkspaceFlags(cmd, &s)
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// fileUploader uploads local files to the file share of one workspace,
// keeping the list of what it uploaded.
type fileUploader struct {
	app       *App
	c         *api.Client
	s         scope
	overwrite bool
	uploaded  []Doc
	total     int64
}

// put uploads the file local to rem.
func (u *fileUploader) put(ctx context.Context, local, rem string, size int64) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	r, done := u.app.withProgress(f, size, rem)
	fi, err := u.c.UploadFile(ctx, u.s.group, u.s.workspace, rem, r, size, u.overwrite)
	done()
	if err != nil {
		return fmt.Errorf("upload %s: %w", local, err)
	}
	u.total += fi.Size
	u.uploaded = append(u.uploaded, Doc{"path": fi.Path, "isDirectory": false, "size": float64(fi.Size), "lastModified": fi.LastModified.Format(time.RFC3339)})
	return nil
}

// putTree uploads the directory source to remote, with its folders.
func (u *fileUploader) putTree(ctx context.Context, source, remote string) error {
	return filepath.WalkDir(source, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(source, p)
		rem := path.Join(remote, filepath.ToSlash(rel))
		if d.IsDir() {
			if rel != "." {
				return u.c.MakeDir(ctx, u.s.group, u.s.workspace, rem)
			}
			return u.c.MakeDir(ctx, u.s.group, u.s.workspace, remote)
		}
		if !d.Type().IsRegular() {
			u.app.errf("Skipping %s: not a regular file.\n", p)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return u.put(ctx, p, rem, info.Size())
	})
}

func fileDownloadCmd(app *App) *cobra.Command {
	var s scope
	var remote, dest string
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Download a file or a directory (recursively) from the file share",
		Example: `  mlw file download --path Users/me/compute-setup.sh --dest .
  mlw file download --path Users/me/labs --dest ./labs-copy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.fileShare(&s)
			if err != nil {
				return err
			}
			entries, err := c.ListFiles(cmd.Context(), s.group, s.workspace, remote, true)
			if err != nil {
				return err
			}
			n, total, err := app.downloadFiles(cmd.Context(), c, s, entries, strings.Trim(remote, "/"), dest)
			if err != nil {
				return err
			}
			app.errf("Downloaded %d file(s), %s, to %s.\n", n, humanBytes(total), dest)
			return nil
		},
	}
	cmd.Flags().StringVarP(&remote, "path", "p", "", "path in the share (a file or a directory; empty: the whole share)")
	cmd.Flags().StringVarP(&dest, "dest", "d", ".", "local destination (a directory, or a file name for a single file)")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// downloadFiles writes the entries listed under remote to dest: one file
// to dest (or into it, when it is a directory), a tree below it. It
// returns how many files and bytes it wrote.
func (a *App) downloadFiles(ctx context.Context, c *api.Client, s scope, entries []api.FileInfo, remote, dest string) (int, int64, error) {
	single := len(entries) == 1 && !entries[0].IsDirectory && entries[0].Path == remote
	var n int
	var total int64
	for _, e := range entries {
		var local string
		if single {
			local = dest
			if st, err := os.Stat(dest); err == nil && st.IsDir() {
				local = filepath.Join(dest, path.Base(e.Path))
			}
		} else {
			rel := strings.TrimPrefix(strings.TrimPrefix(e.Path, remote), "/")
			local = filepath.Join(dest, filepath.FromSlash(rel))
		}
		if e.IsDirectory {
			if err := os.MkdirAll(local, 0o755); err != nil {
				return n, total, err
			}
			continue
		}
		if err := a.downloadOne(ctx, c, s, e, local); err != nil {
			return n, total, err
		}
		n++
		total += e.Size
	}
	return n, total, nil
}

func fileListCmd(app *App) *cobra.Command {
	var s scope
	var remote string
	var recursive bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List a directory of the file share",
		Example: "  mlw file list --path Users/me\n  mlw file list --recursive",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.fileShare(&s)
			if err != nil {
				return err
			}
			entries, err := c.ListFiles(cmd.Context(), s.group, s.workspace, remote, recursive)
			if err != nil {
				return err
			}
			docs := make([]Doc, 0, len(entries))
			for _, e := range entries {
				docs = append(docs, Doc{"path": e.Path, "isDirectory": e.IsDirectory, "size": float64(e.Size), "lastModified": e.LastModified.Format(time.RFC3339)})
			}
			return app.print(docs, fileColumns)
		},
	}
	cmd.Flags().StringVarP(&remote, "path", "p", "", "directory to list (default: the root)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list the whole tree")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

func fileDeleteCmd(app *App) *cobra.Command {
	var s scope
	var remote string
	var recursive, yes bool
	cmd := &cobra.Command{
		Use:     "delete",
		Short:   "Delete a file or a directory of the file share",
		Example: "  mlw file delete --path Users/me/old.ipynb\n  mlw file delete --path Users/me/scratch --recursive --yes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.fileShare(&s)
			if err != nil {
				return err
			}
			if strings.Trim(remote, "/") == "" {
				return errors.New("--path is required: what to delete")
			}
			if err := app.confirm("Delete '"+remote+"' from the file share?", yes); err != nil {
				return err
			}
			if err := c.DeleteFile(cmd.Context(), s.group, s.workspace, remote, recursive); err != nil {
				return err
			}
			app.errf("Deleted %s.\n", remote)
			return nil
		},
	}
	cmd.Flags().StringVarP(&remote, "path", "p", "", "file or directory to delete")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "delete a directory with everything in it")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	addWorkspaceFlags(cmd, &s)
	return cmd
}

// downloadOne writes one remote file to local, atomically.
func (a *App) downloadOne(ctx context.Context, c *api.Client, s scope, e api.FileInfo, local string) error {
	body, size, err := c.DownloadFile(ctx, s.group, s.workspace, e.Path)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	tmp := local + ".mlw-download"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	r, done := a.withProgress(body, size, e.Path)
	_, err = io.Copy(f, r)
	done()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("download %s: %w", e.Path, err)
	}
	return os.Rename(tmp, local)
}
