package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// BinaryEnv names a prebuilt mlw binary to test instead of building one
// (CI builds once and runs several test packages against the same binary).
const BinaryEnv = "MLW_E2E_BINARY"

var build struct {
	once sync.Once
	dir  string // temporary build directory, removed by Main
	path string
	err  error
}

// Binary returns the path of the mlw binary under test, building it on the
// first call of the test process (go build of ./cmd/mlw, with -race when
// the tests themselves run with -race).
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			build.path, build.err = filepath.Abs(p)
			return
		}
		build.dir, build.err = os.MkdirTemp("", "mlw-e2e-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "mlw")
		args := []string{"build", "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		// The package path works from any directory of this module, which
		// is where `go test` runs a test binary.
		cmd := exec.Command("go", append(args, "github.com/mlw-project/mlw/cmd/mlw")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build of mlw failed: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// Main runs a test package's tests and removes the binary built for them.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { e2e.Main(m) }
func Main(m *testing.M) { os.Exit(Runner(m).Run()) }

// Runner wraps m so that running it also removes the binary built for its
// tests, for TestMain helpers that run m themselves:
//
//	func TestMain(m *testing.M) { pgtest.Main(e2e.Runner(m)) }
func Runner(m *testing.M) interface{ Run() int } { return runner{m} }

type runner struct{ m *testing.M }

func (r runner) Run() int {
	code := r.m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	if sdkVenv.dir != "" {
		_ = os.RemoveAll(sdkVenv.dir)
	}
	return code
}
