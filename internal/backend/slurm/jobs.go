package slurm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Job is what Slurm reports of one job.
type Job struct {
	ID   string
	Name string
	// Partition the job runs (or waits) in.
	Partition string
	// State is Slurm's state word (PENDING, RUNNING, FAILED, ...); Status
	// is the same in mlw's terms.
	State  string
	Status Status
	// Nodes is the number of nodes; NodeList names them in Slurm's
	// compressed form ("n[1-4]"), once the job has started. BatchHost is
	// the node its script runs on (squeue only).
	Nodes     int
	NodeList  string
	BatchHost string
	// Submitted, Started and Ended are zero until they happen (Slurm's
	// estimate of a pending job's start is not reported).
	Submitted, Started, Ended time.Time
	// TimeLimit is 0 when unlimited.
	TimeLimit time.Duration
	// Comment is the job's --comment (squeue only: the completion log
	// does not keep it).
	Comment string
	// FromHistory is true when the job had left slurmctld and was read
	// from the job completion log (sacct -c).
	FromHistory bool
}

// squeueFields are the fields the client asks squeue for (-O), each ended
// by "|". Comment, the only free text, comes last, so that a "|" in it
// cannot shift the others.
var squeueFields = []string{"JobID", "Name", "Partition", "State", "Reason", "exit_code", "SubmitTime", "StartTime", "EndTime", "NumNodes", "NodeList", "BatchHost", "TimeLimit", "Comment"}

func squeueFormat() string {
	parts := make([]string, len(squeueFields))
	for i, f := range squeueFields {
		parts[i] = f + ":|"
	}
	return strings.Join(parts, ",")
}

// sacctFields are the fields the job completion log has (sacct -c).
var sacctFields = []string{"jobid", "jobname", "partition", "state", "exitcode", "submit", "start", "end", "nnodes", "nodelist", "timelimit"}

// queryChunk bounds the ids in one command line.
const queryChunk = 500

// Jobs reports the jobs with the given ids, in one squeue call (per 500
// ids) for all of them, and one sacct -c call for those that have left
// slurmctld. Ids Slurm knows nothing of are absent from the result.
func (c *Client) Jobs(ctx context.Context, ids []string) (map[string]Job, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for _, id := range ids {
		if !jobIDRe.MatchString(id) {
			return nil, fmt.Errorf("query jobs: %q is not a Slurm job id", id)
		}
	}
	out := make(map[string]Job, len(ids))
	for chunk := range slices.Chunk(ids, queryChunk) {
		jobs, err := c.squeue(ctx, "-j", strings.Join(chunk, ","))
		if err != nil {
			return nil, fmt.Errorf("query jobs: %w", err)
		}
		for _, j := range jobs {
			out[j.ID] = j
		}
	}
	var gone []string
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			gone = append(gone, id)
		}
	}
	for chunk := range slices.Chunk(gone, queryChunk) {
		jobs, err := c.sacct(ctx, "-j", strings.Join(chunk, ","))
		if err != nil {
			return nil, fmt.Errorf("query jobs: %w", err)
		}
		for _, j := range jobs {
			if slices.Contains(chunk, j.ID) {
				out[j.ID] = j // the last record of an id wins (see sacct)
			}
		}
	}
	return out, nil
}

// Job reports one job; ErrNoJob when Slurm knows nothing of it.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	jobs, err := c.Jobs(ctx, []string{id})
	if err != nil {
		return Job{}, err
	}
	j, ok := jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	return j, nil
}

// FindByName reports the jobs named name, whether queued, running or
// ended (from squeue and the job completion log), ordered by id. A caller
// that names each job uniquely looks here before Submit, so that a job is
// never submitted twice.
func (c *Client) FindByName(ctx context.Context, name string) ([]Job, error) {
	if name == "" || strings.ContainsAny(name, ",\n") {
		return nil, fmt.Errorf("find jobs: bad name %q", name)
	}
	found := map[string]Job{}
	hist, err := c.sacct(ctx, "--name="+name, "--starttime=1970-01-01")
	if err != nil {
		return nil, fmt.Errorf("find jobs named %s: %w", name, err)
	}
	for _, j := range hist {
		if j.Name == name {
			found[j.ID] = j
		}
	}
	// squeue second: what slurmctld knows is newer than the log.
	live, err := c.squeue(ctx, "--name="+name)
	if err != nil {
		return nil, fmt.Errorf("find jobs named %s: %w", name, err)
	}
	for _, j := range live {
		if j.Name == name {
			found[j.ID] = j
		}
	}
	out := make([]Job, 0, len(found))
	for _, j := range found {
		out = append(out, j)
	}
	slices.SortFunc(out, func(a, b Job) int { return compareIDs(a.ID, b.ID) })
	return out, nil
}

func compareIDs(a, b string) int {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Cancel cancels jobs (scancel): Slurm sends SIGTERM to their processes
// and SIGKILL after its KillWait (30 s by default). It is idempotent:
// cancelling a job that has ended, or that Slurm has forgotten, succeeds.
// It does not wait for the jobs to end.
func (c *Client) Cancel(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if !jobIDRe.MatchString(id) {
			return fmt.Errorf("cancel: %q is not a Slurm job id", id)
		}
	}
	_, err := c.run.Run(ctx, Command{Name: "scancel", Args: ids})
	if err != nil && !errors.Is(err, ErrNoJob) {
		return fmt.Errorf("cancel %s: %w", strings.Join(ids, ","), err)
	}
	return nil
}

// JobDetail is what `scontrol show job` says of a job slurmctld still
// holds: the Job, and where its output goes.
type JobDetail struct {
	Job
	WorkDir string
	StdOut  string
	StdErr  string
	// Fields are all of scontrol's Key=Value pairs.
	Fields map[string]string
}

// Show reports one job in detail (scontrol show job -o); ErrNoJob once
// slurmctld has forgotten it (MinJobAge after it ended).
func (c *Client) Show(ctx context.Context, id string) (JobDetail, error) {
	if !jobIDRe.MatchString(id) {
		return JobDetail{}, fmt.Errorf("show job: %q is not a Slurm job id", id)
	}
	out, err := c.run.Run(ctx, Command{Name: "scontrol", Args: []string{"show", "job", "-o", id}})
	if err != nil {
		return JobDetail{}, fmt.Errorf("show job %s: %w", id, err)
	}
	line := strings.TrimSpace(string(out))
	if line == "" {
		return JobDetail{}, fmt.Errorf("show job %s: %w", id, ErrNoJob)
	}
	f := parseKV(strings.SplitN(line, "\n", 2)[0])
	d := JobDetail{Fields: f, WorkDir: f["WorkDir"], StdOut: f["StdOut"], StdErr: f["StdErr"]}
	d.ID, d.Name, d.Partition, d.State = f["JobId"], f["JobName"], f["Partition"], f["JobState"]
	exit, sig, _ := parseExitPair(f["ExitCode"])
	d.NodeList, d.BatchHost = nullable(f["NodeList"]), nullable(f["BatchHost"])
	d.Status = neverRan(StatusOf(d.State, f["Reason"], exit, sig), d.NodeList)
	d.Nodes, _ = strconv.Atoi(f["NumNodes"])
	d.Comment = nullable(f["Comment"])
	d.Submitted = c.parseTime(f["SubmitTime"])
	if d.Status.Kind != Pending {
		d.Started = c.parseTime(f["StartTime"])
	}
	if d.Status.Kind.Ended() {
		d.Ended = c.parseTime(f["EndTime"])
	}
	d.TimeLimit = parseDuration(f["TimeLimit"])
	return d, nil
}

// neverRan corrects the status of a job that failed without being given
// a node: sbatch refused it (Slurm still keeps a record, FAILED with
// ExitCode 0:1, which would read as SIGHUP) or Slurm could not launch it.
func neverRan(s Status, nodeList string) Status {
	if s.Kind != Failed || nodeList != "" {
		return s
	}
	s.ExitCode, s.Signal = -1, 0
	s.Message = "Slurm could not start the job on any node."
	if s.Reason != "" {
		s.Message = "Slurm could not start the job on any node (Slurm reason: " + s.Reason + ")."
	}
	return s
}

// squeue lists the jobs slurmctld holds that match the filter args, in
// every state (-t all: ended jobs stay MinJobAge seconds).
func (c *Client) squeue(ctx context.Context, filter ...string) ([]Job, error) {
	args := append([]string{"-h", "-t", "all"}, filter...)
	args = append(args, "-O", squeueFormat())
	out, err := c.run.Run(ctx, Command{Name: "squeue", Args: args})
	if errors.Is(err, ErrNoJob) {
		// squeue -j with only ids slurmctld has forgotten.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.parseSqueue(string(out))
}

func (c *Client) parseSqueue(out string) ([]Job, error) {
	var jobs []Job
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		line = strings.TrimSuffix(line, "|")
		f := strings.SplitN(line, "|", len(squeueFields))
		if len(f) != len(squeueFields) {
			return nil, fmt.Errorf("squeue printed %q: want %d fields", line, len(squeueFields))
		}
		get := func(name string) string { return strings.TrimSpace(f[slices.Index(squeueFields, name)]) }
		j := Job{ID: get("JobID"), Name: get("Name"), Partition: get("Partition"), State: get("State"),
			NodeList: get("NodeList"), BatchHost: nullable(get("BatchHost")), Comment: nullable(get("Comment"))}
		if j.BatchHost == "n/a" {
			j.BatchHost = ""
		}
		exit, sig, _ := parseWaitStatus(get("exit_code"))
		j.Status = neverRan(StatusOf(j.State, get("Reason"), exit, sig), j.NodeList)
		j.Nodes, _ = strconv.Atoi(get("NumNodes"))
		j.Submitted = c.parseTime(get("SubmitTime"))
		if j.Status.Kind != Pending {
			j.Started = c.parseTime(get("StartTime"))
		}
		if j.Status.Kind.Ended() {
			j.Ended = c.parseTime(get("EndTime"))
		}
		j.TimeLimit = parseDuration(get("TimeLimit"))
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// sacct reads the job completion log (sacct -c) for the filter args. The
// log keeps every job ever ended; if slurmctld's state was lost, ids
// start again at 1, and an id can have several records: the last one is
// the newest.
func (c *Client) sacct(ctx context.Context, filter ...string) ([]Job, error) {
	args := append([]string{"-c", "-P", "-n"}, filter...)
	args = append(args, "-o", strings.Join(sacctFields, ","))
	out, err := c.run.Run(ctx, Command{Name: "sacct", Args: args})
	if err != nil {
		return nil, err
	}
	return c.parseSacct(string(out))
}

func (c *Client) parseSacct(out string) ([]Job, error) {
	var jobs []Job
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != len(sacctFields) {
			return nil, fmt.Errorf("sacct printed %q: want %d fields", line, len(sacctFields))
		}
		get := func(name string) string { return strings.TrimSpace(f[slices.Index(sacctFields, name)]) }
		j := Job{ID: get("jobid"), Name: get("jobname"), Partition: get("partition"), State: get("state"),
			NodeList: nullable(get("nodelist")), FromHistory: true}
		exit, sig, _ := parseExitPair(get("exitcode"))
		j.Status = neverRan(StatusOf(j.State, "", exit, sig), j.NodeList)
		j.Nodes, _ = strconv.Atoi(get("nnodes"))
		j.Submitted = c.parseTime(get("submit"))
		j.Started = c.parseTime(get("start"))
		j.Ended = c.parseTime(get("end"))
		j.TimeLimit = parseDuration(get("timelimit"))
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// parseTime parses Slurm's local time ("2026-12-03T09:52:03"); "N/A",
// "Unknown", "None" and the like are zero.
func (c *Client) parseTime(v string) time.Time {
	loc := c.Location
	if loc == nil {
		loc = time.Local
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSpace(v), loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseDuration parses Slurm's time limits: minutes ("30"),
// "[days-]hours:minutes:seconds", "minutes:seconds"; UNLIMITED, INFINITE,
// NONE and N/A are 0.
func parseDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || v[0] < '0' || v[0] > '9' {
		return 0
	}
	days := 0
	if d, rest, ok := strings.Cut(v, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0
		}
		days, v = n, rest
	}
	parts := strings.Split(v, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0
		}
		nums[i] = n
	}
	var h, m, s int
	switch {
	case len(nums) == 1 && days > 0:
		h = nums[0]
	case len(nums) == 1:
		m = nums[0]
	case len(nums) == 2 && days > 0:
		h, m = nums[0], nums[1]
	case len(nums) == 2:
		m, s = nums[0], nums[1]
	case len(nums) == 3:
		h, m, s = nums[0], nums[1], nums[2]
	default:
		return 0
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
}

// nullable maps Slurm's "(null)" to "".
func nullable(v string) string {
	if v == "(null)" {
		return ""
	}
	return v
}

// parseKV parses scontrol's one-line Key=Value output. Values may hold
// spaces ("OS=Linux 6.1 #1 SMP"): a word without "=" belongs to the value
// before it.
func parseKV(line string) map[string]string {
	out := map[string]string{}
	last := ""
	for _, w := range strings.Fields(line) {
		k, v, ok := strings.Cut(w, "=")
		if ok && k != "" && isKey(k) {
			out[k] = v
			last = k
			continue
		}
		if last != "" {
			out[last] += " " + w
		}
	}
	return out
}

func isKey(k string) bool {
	for _, r := range k {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == ':' || r == '/') {
			return false
		}
	}
	return k[0] >= 'A' && k[0] <= 'Z'
}
