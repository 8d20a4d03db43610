package slurm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// recording is one command run against the real Slurm, as
// testdata/record wrote it.
type recording struct {
	argv   []string
	exit   int
	stdout string
	stderr string
}

// loadRecordings reads testdata/<name>.rec.
func loadRecordings(t *testing.T, name string) []recording {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".rec"))
	if err != nil {
		t.Fatalf("recording %s: %v (make it with testdata/record)", name, err)
	}
	defer f.Close()
	var recs []recording
	var cur *recording
	section := ""
	var stdout, stderr strings.Builder
	flush := func() {
		if cur != nil {
			cur.stdout, cur.stderr = stdout.String(), stderr.String()
			recs = append(recs, *cur)
		}
		stdout.Reset()
		stderr.Reset()
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case section == "" && strings.HasPrefix(line, "#"):
			continue
		case line == "== run":
			flush()
			cur, section = &recording{}, "run"
			continue
		case strings.HasPrefix(line, "== exit "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "== exit "))
			if err != nil || cur == nil {
				t.Fatalf("recording %s: bad line %q", name, line)
			}
			cur.exit, section = n, "exit"
			continue
		case line == "== stdout":
			section = "stdout"
			continue
		case line == "== stderr":
			section = "stderr"
			continue
		}
		switch section {
		case "run":
			cur.argv = append(cur.argv, line)
		case "stdout":
			stdout.WriteString(line + "\n")
		case "stderr":
			stderr.WriteString(line + "\n")
		default:
			t.Fatalf("recording %s: unexpected line %q", name, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	if len(recs) == 0 {
		t.Fatalf("recording %s is empty", name)
	}
	return recs
}

// replay is a Runner that answers the commands of recordings, and fails
// the test on a command no recording holds: the client must run exactly
// what it ran against the real Slurm.
type replay struct {
	t    *testing.T
	recs []recording
	mu   sync.Mutex
	ran  []Command
}

func newReplay(t *testing.T, names ...string) *replay {
	r := &replay{t: t}
	for _, n := range names {
		r.recs = append(r.recs, loadRecordings(t, n)...)
	}
	return r
}

func (r *replay) Run(_ context.Context, c Command) ([]byte, error) {
	r.mu.Lock()
	r.ran = append(r.ran, c)
	r.mu.Unlock()
	argv := append([]string{c.Name}, c.Args...)
	for _, rec := range r.recs {
		if slices.Equal(rec.argv, argv) {
			if rec.exit != 0 {
				return []byte(rec.stdout), newCommandError(c, rec.exit, rec.stdout, rec.stderr)
			}
			return []byte(rec.stdout), nil
		}
	}
	r.t.Errorf("no recording of %s", c)
	return nil, fmt.Errorf("no recording of %s", c)
}

// commands are the names of the commands run so far.
func (r *replay) commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.ran {
		out = append(out, c.Name)
	}
	return out
}

// recordedIDs are the ids of the -j argument of the first recorded
// command of that name.
func (r *replay) recordedIDs(t *testing.T, command string) []string {
	t.Helper()
	for _, rec := range r.recs {
		if rec.argv[0] != command {
			continue
		}
		if i := slices.Index(rec.argv, "-j"); i >= 0 {
			return strings.Split(rec.argv[i+1], ",")
		}
	}
	t.Fatalf("no recorded %s -j", command)
	return nil
}
