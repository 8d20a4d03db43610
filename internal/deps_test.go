// Package internal_test holds the dependency rules of docs/architecture.md
// as a test, in the manner of Tailscale's deptest: `go list` says what each
// package imports, and a forbidden edge fails the build.
package internal_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/mlw-project/mlw"

type goPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string // direct imports, test files excluded
	Deps       []string // every transitive dependency
}

// goList runs `go list -e -json` in the module root. -e keeps going past
// packages that do not compile (others may be mid-edit): the imports are
// read from the source either way.
func goList(t *testing.T, args ...string) []goPackage {
	t.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	require.NoError(t, err)
	cmd := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Standard,Imports,Deps"}, args...)...)
	cmd.Dir = strings.TrimSpace(string(root))
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
	}
	require.NoError(t, err)
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

// under reports whether pkg is dir (a path inside the module) or below it.
func under(pkg, dir string) bool {
	dir = path.Join(module, dir)
	return pkg == dir || strings.HasPrefix(pkg, dir+"/")
}

func TestCoreImportsOnlyTheStandardLibrary(t *testing.T) {
	t.Parallel()
	for _, p := range goList(t, "-deps", "./internal/core") {
		if p.ImportPath == module+"/internal/core" {
			continue
		}
		require.True(t, p.Standard, "internal/core depends on %s; core holds the vocabulary every package shares and may use only the standard library", p.ImportPath)
	}
}

func TestProtocolImportsOnlyTheStandardLibrary(t *testing.T) {
	t.Parallel()
	for _, p := range goList(t, "-deps", "./protocol") {
		if p.ImportPath != module+"/protocol" {
			require.True(t, p.Standard, "protocol depends on %s; it holds names both sides of the wire share and may use only the standard library", p.ImportPath)
		}
	}
}

func TestModuleRules(t *testing.T) {
	t.Parallel()
	pkgs := goList(t, "./...")
	require.NotEmpty(t, pkgs)
	for _, p := range pkgs {
		for _, dep := range p.Deps {
			// The CLI talks to the server only through the public api
			// package, as a third-party program would.
			if under(p.ImportPath, "internal/cli") && strings.HasPrefix(dep, module+"/") && !under(dep, "internal/cli") && !under(dep, "api") && !under(dep, "protocol") {
				t.Errorf("internal/cli depends on %s: the CLI may use only the api and protocol packages of this module", dep)
			}
			// The server's side shares names with its clients through
			// protocol; only the CLI and the composition root use the
			// client library.
			if under(p.ImportPath, "internal") && !under(p.ImportPath, "internal/cli") && !under(p.ImportPath, "internal/server") && under(dep, "api") {
				t.Errorf("%s depends on %s: only internal/cli and internal/server may use the api client package (shared names live in protocol)", p.ImportPath, dep)
			}
			// Reconcilers act on the typed resources (internal/resource)
			// and the store; admission (internal/service) is the API's
			// side, which they never call.
			if under(p.ImportPath, "internal/reconciler") && under(dep, "internal/service") {
				t.Errorf("%s depends on %s: reconcilers use internal/resource and the store, never admission", p.ImportPath, dep)
			}
			// Handlers and admission never reach a backend: only the
			// reconcilers act on desired state.
			for _, dir := range []string{"internal/httpapi", "internal/service"} {
				if under(p.ImportPath, dir) && under(dep, "internal/backend") {
					t.Errorf("%s depends on %s: handlers and admission must not reach a backend (reconcilers do)", p.ImportPath, dep)
				}
			}
		}
		for _, imp := range p.Imports {
			// Handlers speak the resource model and admission; how state
			// is kept is the store's and admission's business.
			if under(p.ImportPath, "internal/httpapi") && under(imp, "internal/store") {
				t.Errorf("%s imports %s: handlers use internal/resource and internal/service, never the store", p.ImportPath, imp)
			}
			// Kubernetes' client libraries are large; they stay behind the
			// backend that needs them.
			if (imp == "k8s.io" || strings.HasPrefix(imp, "k8s.io/")) && !under(p.ImportPath, "internal/backend/kubernetes") {
				t.Errorf("%s imports %s: k8s.io is allowed only under internal/backend/kubernetes", p.ImportPath, imp)
			}
			// Only the composition root picks concrete stores and backends.
			if concrete(imp) && !wires(p.ImportPath, imp) {
				t.Errorf("%s imports %s: only internal/server wires concrete stores and backends", p.ImportPath, imp)
			}
		}
	}
}

// concrete reports whether imp is a store or backend implementation (not
// the interface packages, conformance suites or test helpers).
func concrete(imp string) bool {
	switch {
	case under(imp, "internal/store/sqlite"), under(imp, "internal/store/postgres") && !under(imp, "internal/store/postgres/pgtest"):
		return true
	case under(imp, "internal/backend") && imp != module+"/internal/backend" && !under(imp, "internal/backend/backendtest"):
		return true
	}
	return false
}

// wires reports whether pkg may import the concrete implementation imp.
func wires(pkg, imp string) bool {
	switch {
	case under(pkg, "internal/server"):
		return true
	case pkg == module+"/cmd/mlw":
		// main is a composition root too: the same binary runs the local
		// backend's process supervisor.
		return true
	case under(pkg, "internal/store") && under(imp, "internal/store"),
		under(pkg, "internal/backend") && under(imp, "internal/backend"):
		return true // implementations share helpers within their tree
	}
	return false
}

// TestBackendConformanceSuite: backendtest checks every backend through
// the backend interfaces alone, so it may not reach a concrete backend;
// and it is test support, which no product code may carry.
func TestBackendConformanceSuite(t *testing.T) {
	t.Parallel()
	const suite = module + "/internal/backend/backendtest"
	pkgs := goList(t, "./...")
	found := false
	for _, p := range pkgs {
		if p.ImportPath == suite {
			found = true
			for _, dep := range p.Deps {
				if under(dep, "internal/backend") && dep != module+"/internal/backend" {
					t.Errorf("backendtest depends on %s: the suite may use only the backend interfaces (and testing libraries)", dep)
				}
			}
			continue
		}
		for _, dep := range p.Deps {
			if dep == suite {
				t.Errorf("%s depends on backendtest: only tests may import the conformance suite", p.ImportPath)
			}
		}
	}
	require.True(t, found, "internal/backend/backendtest exists")
}
