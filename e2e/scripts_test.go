package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStudioNode: scripts/studio-node.sh, which scripts/test.sh and
// scripts/quickstart.sh use to find a Node.js that builds the studio (Vite
// 8 needs ^20.19 or >= 22.12), with stand-ins for node and npm: a usable
// node on PATH is taken; Debian 12's 18 (or none) with npm fetches the
// official build from the npm registry into the cache, once; without npm,
// or when the fetch fails, it fails early and names the version needed.
func TestStudioNode(t *testing.T) {
	t.Parallel()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the script fetches builds for x64 and arm64 only")
	}
	script, err := filepath.Abs("../scripts/studio-node.sh")
	require.NoError(t, err)
	type result struct {
		out, err, bin string
		code          int
	}
	// run runs the script with PATH holding only the tools it uses, plus a
	// node that says version (none when empty) and, with npm, an npm that
	// "installs" node-linux-<arch> (fetch fails when npm is "fail").
	run := func(t *testing.T, cache, version, npm string) result {
		bin := t.TempDir()
		for _, tool := range []string{"dirname", "uname", "mkdir", "mktemp", "rm", "mv", "flock", "cat", "chmod"} {
			p, err := exec.LookPath(tool)
			require.NoError(t, err)
			require.NoError(t, os.Symlink(p, filepath.Join(bin, tool)))
		}
		fake := func(name, body string) {
			require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+body), 0o755))
		}
		if version != "" {
			fake("node", "echo "+version+"\n")
		}
		switch npm {
		case "ok":
			fake("npm", `echo "$@" >>"`+cache+`/npm-calls"
prefix=""; pkg=""
while [ $# -gt 0 ]; do case "$1" in --prefix) prefix=$2; shift 2 ;; node-linux-*) pkg=$1; shift ;; *) shift ;; esac; done
d="$prefix/node_modules/${pkg%@*}/bin"; mkdir -p "$d"
printf '#!/bin/bash\necho v%s\n' "${pkg#*@}" >"$d/node"; chmod +x "$d/node"
`)
		case "fail":
			fake("npm", "echo 'npm ERR! network' >&2; exit 1\n")
		}
		cmd := exec.Command("/bin/bash", script)
		cmd.Env = []string{"PATH=" + bin, "HOME=" + t.TempDir(), "MLW_TEST_CACHE=" + cache}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return result{out: strings.TrimSpace(out.String()), err: errb.String(), bin: bin, code: code}
	}
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]

	for _, v := range []string{"v20.19.0", "v20.20.2", "v22.12.0", "v24.1.0"} {
		cache := t.TempDir()
		r := run(t, cache, v, "")
		require.Equal(t, 0, r.code, "%s: %s", v, r.err)
		require.Equal(t, r.bin, r.out, "%s: the node on PATH", v)
		require.NoFileExists(t, filepath.Join(cache, "npm-calls"), "%s is used as it is", v)
	}

	// Debian 12's Node.js 18 and its npm: Node.js 22 is fetched, once.
	cache := t.TempDir()
	r := run(t, cache, "v18.19.0", "ok")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, filepath.Join(cache, "node-22.23.5", "node_modules", "node-linux-"+arch, "bin"), r.out)
	require.Contains(t, r.err, "this machine has v18.19.0; fetching Node.js 22.23.5 (the npm package node-linux-"+arch+")")
	out, err := exec.Command(filepath.Join(r.out, "node"), "--version").Output()
	require.NoError(t, err)
	require.Equal(t, "v22.23.5\n", string(out))
	again := run(t, cache, "v18.19.0", "ok")
	require.Equal(t, 0, again.code, again.err)
	require.Equal(t, r.out, again.out, "the second run uses the cache")
	require.Empty(t, again.err)
	calls, err := os.ReadFile(filepath.Join(cache, "npm-calls"))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(calls), "node-linux-"+arch+"@22.23.5"), "fetched once: %s", calls)

	// Too old, and nothing to fetch with, or the fetch fails: a clear
	// failure that names the version needed.
	for _, c := range []struct{ version, npm, says string }{
		{"v18.19.0", "", "this machine has v18.19.0. There is no npm to fetch one with."},
		{"v22.11.0", "", "this machine has v22.11.0."},
		{"", "", "this machine has no Node.js. There is no npm"},
		{"v18.19.0", "fail", "Fetching node-linux-" + arch + "@22.23.5 with npm failed."},
	} {
		r := run(t, t.TempDir(), c.version, c.npm)
		require.Equal(t, 1, r.code, "%+v: %s", c, r.out)
		require.Empty(t, r.out)
		require.Contains(t, r.err, "the studio (Vite 8) needs Node.js 20.19 or later (or 22.12 or later)")
		require.Contains(t, r.err, c.says)
		require.Contains(t, r.err, "install Node.js 22 (or 20.19+) and npm")
	}
}

// TestQuickstartListen: scripts/quickstart.sh says plainly, before it
// installs or builds anything, that the port it was told to use (--listen
// or MLW_LISTEN) is taken and by what, and refuses a --listen that is no
// address; it never calls a busy port "no mlw server found".
func TestQuickstartListen(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("../scripts/quickstart.sh")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	// Should the check ever pass a busy port, the script must not go on
	// to install, build or start anything from a test: these stand-ins
	// fail at once.
	stubs := t.TempDir()
	for _, name := range []string{"apt-get", "sudo", "go", "npm", "node"} {
		require.NoError(t, os.WriteFile(filepath.Join(stubs, name), []byte("#!/bin/sh\necho \"stand-in $0 called\" >&2\nexit 97\n"), 0o755))
	}
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(script, args...)
		cmd.Env = append(cleanEnv(t.TempDir()), append(env, "PATH="+stubs+":"+os.Getenv("PATH"))...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err, "%s", out)
		}
		return string(out), code
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"--listen", "127.0.0.1:" + port}},
		{"variable", []string{"MLW_LISTEN=127.0.0.1:" + port}, nil},
		{"bare port", nil, []string{"--listen=" + port}},
	} {
		out, code := run(tc.env, tc.args...)
		require.Equal(t, 1, code, "%s: %s", tc.name, out)
		require.Contains(t, out, "quickstart: port "+port+" is in use by ", tc.name)
		require.Contains(t, out, "pass --listen 127.0.0.1:<free port> (or set MLW_LISTEN)", tc.name)
		require.NotContains(t, out, "no mlw server found", tc.name)
		require.NotContains(t, out, "stand-in", "%s: nothing is installed or built for a busy port", tc.name)
	}
	out, code := run(nil, "--listen", "somewhere")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "wants HOST:PORT or a port, not 'somewhere'")
	out, code = run(nil, "--listen")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "--listen needs an address")
}
