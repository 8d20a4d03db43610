package bench

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// studioJobs is the size of the job history of BenchmarkStudioJobsPage.
const studioJobs = 10_000

// BenchmarkStudioJobsPage measures what the studio's Jobs page asks of
// the server in a workspace with 10,000 jobs: one page of 50 (the first,
// and one deep in the history through nextLink), a search over the whole
// history (mlwSearch: by name, by display name, which decodes every job,
// and one that matches nothing), a status and experiment filter, and the
// experiments list (every job grouped by experiment), server time as the
// client sees it on loopback. The history is copies of one real completed job, written
// straight into the database. Aim: ≤ 100 ms per page.
func BenchmarkStudioJobsPage(b *testing.B) {
	t := startJobServer(b, "cpus=2", `{"vmSize": "STANDARD_DS1_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 1}}`)
	// Copies of the warm-up job, a millisecond apart, newest last.
	if _, err := t.db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
		INSERT INTO resources (kind, parent, name_key, name, uid, spec, status, state, owner, deleting, generation, version, created_at, updated_at, created_by, modified_by)
		SELECT kind, parent, 'job_' || i, 'job_' || i, uid || '-' || i, spec, status, state, owner, deleting, generation, version, created_at + i * 1000, updated_at + i * 1000, created_by, modified_by
		FROM resources, n WHERE kind = 'job' AND name_key = 'warmup'`, studioJobs-1); err != nil {
		b.Fatal(err)
	}
	if n := t.ended(b); n != studioJobs {
		b.Fatalf("%d jobs in the history, want %d", n, studioJobs)
	}
	first := t.jobsPath() + "?$top=50&api-version=2024-10-01"
	page := func(b *testing.B, path string) (names []string, next string) {
		var out struct {
			Value []struct {
				Name string `json:"name"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		code, raw, err := t.do(http.MethodGet, path, "")
		if err != nil || code != http.StatusOK {
			b.Fatalf("GET %s: %d %v %s", path, code, err, raw)
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			b.Fatal(err)
		}
		for _, v := range out.Value {
			names = append(names, v.Name)
		}
		if out.NextLink != "" {
			u, _ := url.Parse(out.NextLink)
			next = u.RequestURI()
		}
		return names, next
	}
	deep := first
	for range 100 { // page 101: jobs 5,001 to 5,050
		_, deep = page(b, deep)
	}
	experiments := "/history/v1.0" + strings.TrimSuffix(t.jobsPath(), "/jobs") + "/experiments"
	for _, c := range []struct {
		name, path string
		want       int
	}{
		{"first", first, 50},
		{"page101", deep, 50},
		// job_99, job_990…999, job_9900…9999: 111 jobs, a page of 50.
		{"search-name", first + "&mlwSearch=JOB_99", 50},
		// Every job's display name is "warmup": each spec is read.
		{"search-display", first + "&mlwSearch=armu", 50},
		{"search-none", first + "&mlwSearch=no-such-job", 0},
		{"filtered", first + "&status=Completed&experimentName=default", 50},
		{"experiments", experiments, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				names, _ := page(b, c.path)
				lat = append(lat, time.Since(t0))
				if len(names) != c.want {
					b.Fatalf("%d entries in %s, want %d", len(names), c.path, c.want)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
