package local

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/backend"
)

// An instance's processes run as its user's unprivileged host uid (the
// same uid as that user's cluster jobs), named azureuser inside, with the
// workspace file share's group as a supplementary group and no
// capabilities: root inside the instance is not possible, so root outside
// is not either. The home directory is the user's; the file share is the
// share group's (setgid directories, group-writable), so that every
// instance user of the workspace can change what another made, as on
// Azure's file share.

// dropTo is the argv prefix that runs the rest as uid through setpriv,
// with group gid (0: none) besides its own, without capabilities and
// unable to gain any: the same for jobs and instances.
func dropTo(setpriv string, uid, gid int) []string {
	groups := "--clear-groups"
	if gid > 0 {
		groups = "--groups=" + strconv.Itoa(gid)
	}
	u := strconv.Itoa(uid)
	return []string{setpriv, "--reuid=" + u, "--regid=" + u, groups, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"}
}

func (h *instanceHandle) passwdFile() string { return filepath.Join(h.Root, "run", "passwd") }
func (h *instanceHandle) groupFile() string  { return filepath.Join(h.Root, "run", "group") }

// shareGroup is the file share's group name inside instances.
const shareGroup = "mlw-share"

// prepareUser makes the instance's user: /etc/passwd and /etc/group as the
// instance sees them (the host's, with azureuser and the share group), the
// home directory the user's, the file share the share group's.
func (l *Instances) prepareUser(spec *backend.InstanceSpec, h *instanceHandle) error {
	if h.UID == 0 {
		return nil
	}
	u, g := strconv.Itoa(h.UID), strconv.Itoa(h.GID)
	passwd := withoutEntries("/etc/passwd", InstanceUser) +
		InstanceUser + ":x:" + u + ":" + u + ":Azure ML compute instance user:" + sandboxHome + ":/bin/bash\n"
	group := withoutEntries("/etc/group", InstanceUser, shareGroup) + InstanceUser + ":x:" + u + ":\n"
	if h.GID > 0 {
		group += shareGroup + ":x:" + g + ":" + InstanceUser + "\n"
	}
	if err := os.WriteFile(h.passwdFile(), []byte(passwd), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(h.groupFile(), []byte(group), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(h.Root, 0o711); err != nil {
		return err
	}
	if err := h.giveHome(); err != nil {
		return err
	}
	return shareTree(spec.SharePath, h.GID)
}

// giveHome makes the home directory (recursively) the instance user's:
// at boot, and after mlw wrote its files into it.
func (h *instanceHandle) giveHome() error {
	if h.UID == 0 {
		return nil
	}
	if err := giveTree(h.home(), h.UID); err != nil {
		return fmt.Errorf("give the home directory to its user: %w", err)
	}
	return os.Chmod(h.home(), 0o700)
}

// withoutEntries is a passwd or group file without the entries named.
func withoutEntries(path string, names ...string) string {
	b, _ := os.ReadFile(path)
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, ":")
		skip := false
		for _, n := range names {
			skip = skip || name == n
		}
		if !skip && line != "" {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// shareTree gives the file share to group gid: directories setgid and
// group-writable (what is made in them is the group's), files
// group-writable. Symbolic links are changed themselves, never followed.
func shareTree(dir string, gid int) error {
	if gid <= 0 {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil
		case fi.IsDir():
			return os.Chmod(p, fi.Mode().Perm()|0o070|fs.ModeSetgid)
		default:
			return os.Chmod(p, fi.Mode().Perm()|0o060)
		}
	})
}

// mkdirHome makes dir, in the home directory, with its parents: the
// instance user's, so that the user's processes can write there.
func (h *instanceHandle) mkdirHome(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if h.UID == 0 {
		return nil
	}
	home := h.home()
	for d := dir; d != home && strings.HasPrefix(d, home+"/"); d = filepath.Dir(d) {
		if err := os.Lchown(d, h.UID, h.UID); err != nil {
			return err
		}
	}
	return nil
}
