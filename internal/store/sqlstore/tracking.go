package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// Experiment tracking (store.Tracking) on the mlflow_* tables.

// txq runs fn in one write transaction with the writer's cached
// statements (tracking, registry, and authTx for access changes).
func (s *Store) txq(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var missed []string
	q := cachedTx{tx: tx, c: s.wc, missed: &missed}
	if err := fn(q); err != nil {
		_ = tx.Rollback()
		return err
	}
	err = tx.Commit()
	for _, query := range missed {
		s.wc.get(ctx, query, true)
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func expID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("experiment %q: %w", id, store.ErrNotFound)
	}
	return n, nil
}

// CreateExperiment implements store.Tracking.
func (s *Store) CreateExperiment(ctx context.Context, e *tracking.Experiment) error {
	for range 5 {
		err := s.txq(ctx, func(q querier) error {
			id := e.ID
			if id == "" {
				var max int64
				if err := q.QueryRowContext(ctx, s.d.q(`SELECT COALESCE(MAX(exp_id), 0) FROM mlflow_experiments WHERE workspace = ?`), e.Workspace).Scan(&max); err != nil {
					return err
				}
				id = strconv.FormatInt(max+1, 10)
			}
			n, err := expID(id)
			if err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_experiments (workspace, exp_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?,?,?,?,?,?,?)`),
				e.Workspace, n, e.Name, e.ArtifactLocation, e.LifecycleStage, e.CreationTime, e.LastUpdateTime); err != nil {
				return err
			}
			for _, t := range e.Tags {
				if _, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_experiment_tags (workspace, exp_id, key, value) VALUES (?,?,?,?)
					ON CONFLICT (workspace, exp_id, key) DO UPDATE SET value = excluded.value`), e.Workspace, n, t.Key, t.Value); err != nil {
					return err
				}
			}
			e.ID = id
			return nil
		})
		if err == nil || !s.d.IsUnique(err) {
			return err
		}
		if _, gerr := s.GetExperimentByName(ctx, e.Workspace, e.Name); gerr == nil || e.ID != "" {
			return fmt.Errorf("create experiment %q: %w", e.Name, store.ErrExists)
		}
		// Another replica took the id: try the next one.
	}
	return fmt.Errorf("create experiment %q: %w", e.Name, store.ErrConflict)
}

const expCols = `workspace, exp_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time`

func (s *Store) scanExperiments(ctx context.Context, rows *sql.Rows, err error) ([]*tracking.Experiment, error) {
	if err != nil {
		return nil, fmt.Errorf("read experiments: %w", err)
	}
	defer rows.Close()
	var out []*tracking.Experiment
	for rows.Next() {
		var e tracking.Experiment
		var id int64
		if err := rows.Scan(&e.Workspace, &id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
			return nil, err
		}
		e.ID = strconv.FormatInt(id, 10)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for _, e := range out {
		n, _ := expID(e.ID)
		trows, err := s.r.QueryContext(ctx, s.d.q(`SELECT key, value FROM mlflow_experiment_tags WHERE workspace = ? AND exp_id = ? ORDER BY key`), e.Workspace, n)
		if err != nil {
			return nil, err
		}
		for trows.Next() {
			var t tracking.KV
			if err := trows.Scan(&t.Key, &t.Value); err != nil {
				trows.Close()
				return nil, err
			}
			e.Tags = append(e.Tags, t)
		}
		trows.Close()
	}
	return out, nil
}

func (s *Store) oneExperiment(ctx context.Context, what string, query string, args ...any) (*tracking.Experiment, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q(`SELECT `+expCols+` FROM mlflow_experiments WHERE `+query), args...)
	es, err := s.scanExperiments(ctx, rows, err)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("experiment %s: %w", what, store.ErrNotFound)
	}
	return es[0], nil
}

// GetExperiment implements store.Tracking.
func (s *Store) GetExperiment(ctx context.Context, ws, id string) (*tracking.Experiment, error) {
	n, err := expID(id)
	if err != nil {
		return nil, err
	}
	return s.oneExperiment(ctx, id, `workspace = ? AND exp_id = ?`, ws, n)
}

// GetExperimentByName implements store.Tracking.
func (s *Store) GetExperimentByName(ctx context.Context, ws, name string) (*tracking.Experiment, error) {
	return s.oneExperiment(ctx, strconv.Quote(name), `workspace = ? AND name = ?`, ws, name)
}

// UpdateExperiment implements store.Tracking.
func (s *Store) UpdateExperiment(ctx context.Context, ws, id, name, stage string, now int64) error {
	n, err := expID(id)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, s.d.q(`UPDATE mlflow_experiments SET name = CASE WHEN ? = '' THEN name ELSE ? END,
		lifecycle_stage = CASE WHEN ? = '' THEN lifecycle_stage ELSE ? END, last_update_time = ? WHERE workspace = ? AND exp_id = ?`),
		name, name, stage, stage, now, ws, n)
	if err != nil {
		if s.d.IsUnique(err) {
			return fmt.Errorf("rename experiment %s to %q: %w", id, name, store.ErrExists)
		}
		return fmt.Errorf("update experiment %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("experiment %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// SetExperimentTag implements store.Tracking.
func (s *Store) SetExperimentTag(ctx context.Context, ws, id string, tag tracking.KV, now int64) error {
	n, err := expID(id)
	if err != nil {
		return err
	}
	return s.txq(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`UPDATE mlflow_experiments SET last_update_time = ? WHERE workspace = ? AND exp_id = ?`), now, ws, n)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("experiment %s: %w", id, store.ErrNotFound)
		}
		_, err = q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_experiment_tags (workspace, exp_id, key, value) VALUES (?,?,?,?)
			ON CONFLICT (workspace, exp_id, key) DO UPDATE SET value = excluded.value`), ws, n, tag.Key, tag.Value)
		return err
	})
}

const runCols = `r.run_key, r.workspace, r.run_id, r.exp_id, r.run_name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage, r.job, r.inputs`

// runRow is a run as stored, with its key.
type runRow struct {
	key string
	run *tracking.Run
}

func scanRun(sc interface{ Scan(...any) error }) (runRow, error) {
	var rr runRow
	r := &tracking.Run{}
	var exp int64
	var inputs string
	err := sc.Scan(&rr.key, &r.Info.Workspace, &r.Info.RunID, &exp, &r.Info.RunName, &r.Info.UserID, &r.Info.Status, &r.Info.StartTime,
		&r.Info.EndTime, &r.Info.ArtifactURI, &r.Info.LifecycleStage, &r.Info.Job, &inputs)
	if err != nil {
		return rr, err
	}
	r.Info.ExperimentID = strconv.FormatInt(exp, 10)
	if inputs != "" && inputs != "[]" {
		_ = json.Unmarshal([]byte(inputs), &r.Inputs)
	}
	rr.run = r
	return rr, nil
}

// CreateRun implements store.Tracking.
func (s *Store) CreateRun(ctx context.Context, r *tracking.Run) error {
	n, err := expID(r.Info.ExperimentID)
	if err != nil {
		return err
	}
	key := uuid.NewString()
	err = s.txq(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_runs (run_key, workspace, run_id, exp_id, run_name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, job, inputs)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`), key, r.Info.Workspace, r.Info.RunID, n, r.Info.RunName, r.Info.UserID, r.Info.Status,
			r.Info.StartTime, r.Info.EndTime, r.Info.ArtifactURI, r.Info.LifecycleStage, r.Info.Job, "[]"); err != nil {
			return err
		}
		return s.writeBatch(ctx, q, key, tracking.Batch{Params: r.Params, Tags: r.Tags, Metrics: r.Metrics})
	})
	if err != nil && s.d.IsUnique(err) {
		return fmt.Errorf("create run %s: %w", r.Info.RunID, store.ErrExists)
	}
	return err
}

// lookupRun reads a run's row (without its data).
func (s *Store) lookupRun(ctx context.Context, q querier, ws, runID string) (runRow, error) {
	rr, err := scanRun(q.QueryRowContext(ctx, s.d.q(`SELECT `+runCols+` FROM mlflow_runs r WHERE r.workspace = ? AND r.run_id = ?`), ws, runID))
	if errors.Is(err, sql.ErrNoRows) {
		return rr, fmt.Errorf("run %s: %w", runID, store.ErrNotFound)
	}
	return rr, err
}

// activeRun reads a run that writes may change.
func (s *Store) activeRun(ctx context.Context, q querier, ws, runID string) (runRow, error) {
	rr, err := s.lookupRun(ctx, q, ws, runID)
	if err == nil && rr.run.Info.LifecycleStage != tracking.Active {
		err = fmt.Errorf("run %s: %w", runID, tracking.ErrNotActive)
	}
	return rr, err
}

// GetRun implements store.Tracking.
func (s *Store) GetRun(ctx context.Context, ws, runID string) (*tracking.Run, error) {
	rr, err := s.lookupRun(ctx, s.r, ws, runID)
	if err != nil {
		return nil, err
	}
	if err := s.loadRunData(ctx, []runRow{rr}); err != nil {
		return nil, err
	}
	return rr.run, nil
}

// UpdateRun implements store.Tracking.
func (s *Store) UpdateRun(ctx context.Context, ws, runID string, u tracking.RunUpdate) (*tracking.RunInfo, error) {
	var info tracking.RunInfo
	err := s.txq(ctx, func(q querier) error {
		rr, err := s.lookupRun(ctx, q, ws, runID)
		if err != nil {
			return err
		}
		in := &rr.run.Info
		if u.Status != "" {
			in.Status = u.Status
		}
		if u.EndTime != nil {
			in.EndTime = *u.EndTime
		}
		if u.LifecycleStage != "" {
			in.LifecycleStage = u.LifecycleStage
		}
		if u.RunName != nil && *u.RunName != "" {
			in.RunName = *u.RunName
			if err := s.upsertTag(ctx, q, rr.key, tracking.KV{Key: "mlflow.runName", Value: in.RunName}); err != nil {
				return err
			}
		}
		if _, err := q.ExecContext(ctx, s.d.q(`UPDATE mlflow_runs SET status = ?, end_time = ?, lifecycle_stage = ?, run_name = ? WHERE run_key = ?`),
			in.Status, in.EndTime, in.LifecycleStage, in.RunName, rr.key); err != nil {
			return err
		}
		info = *in
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &info, nil
}

func (s *Store) upsertTag(ctx context.Context, q querier, key string, t tracking.KV) error {
	_, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_tags (run_key, key, value) VALUES (?,?,?) ON CONFLICT (run_key, key) DO UPDATE SET value = excluded.value`),
		key, t.Key, t.Value)
	return err
}

// LogBatch implements store.Tracking. Concurrent batches are written
// together (group commit): the first caller writes what is queued in one
// transaction, each batch under a savepoint of its own so that one that
// fails (a changed param, a deleted run) takes nothing else with it. With
// SQLite's single writer a commit per batch would bound throughput.
func (s *Store) LogBatch(ctx context.Context, ws, runID string, b tracking.Batch) error {
	req := &batchReq{ws: ws, runID: runID, b: b, done: make(chan error, 1)}
	s.lb.mu.Lock()
	s.lb.queue = append(s.lb.queue, req)
	lead := !s.lb.running
	s.lb.running = true
	s.lb.mu.Unlock()
	if lead {
		s.drainBatches(context.WithoutCancel(ctx), req)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchReq is one queued LogBatch.
type batchReq struct {
	ws, runID string
	b         tracking.Batch
	done      chan error
}

// batcher queues LogBatch calls for group commit.
type batcher struct {
	mu      sync.Mutex
	queue   []*batchReq
	running bool
}

// maxGroup bounds the batches of one transaction.
const maxGroup = 64

// drainBatches writes queued batches until own is written, then hands what
// is left to a goroutine (so that no caller serves the others for long).
func (s *Store) drainBatches(ctx context.Context, own *batchReq) {
	for {
		s.lb.mu.Lock()
		if len(s.lb.queue) == 0 {
			s.lb.running = false
			s.lb.mu.Unlock()
			return
		}
		n := min(len(s.lb.queue), maxGroup)
		group := s.lb.queue[:n:n]
		s.lb.queue = s.lb.queue[n:]
		s.lb.mu.Unlock()
		s.writeGroup(ctx, group)
		if own != nil && own.done != nil && len(own.done) > 0 {
			go s.drainBatches(ctx, nil)
			return
		}
	}
}

// writeGroup writes a group of batches in one transaction: first all of
// them plainly, which is what nearly every group needs; when one fails, the
// transaction is rolled back and the group written again with a savepoint
// per batch, so that the failed batch takes nothing else with it.
func (s *Store) writeGroup(ctx context.Context, group []*batchReq) {
	errs := make([]error, len(group))
	err := s.txq(ctx, func(q querier) error {
		for i, req := range group {
			if errs[i] = s.writeOne(ctx, q, req); errs[i] != nil {
				return errs[i]
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 && slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		clear(errs)
		err = s.txq(ctx, func(q querier) error { return s.writeEach(ctx, q, group, errs) })
	}
	for i, req := range group {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		req.done <- errs[i]
	}
}

// writeOne writes one queued batch to its run, which must be active.
func (s *Store) writeOne(ctx context.Context, q querier, req *batchReq) error {
	rr, err := s.activeRun(ctx, q, req.ws, req.runID)
	if err != nil {
		return err
	}
	return s.writeBatch(ctx, q, rr.key, req.b)
}

// writeEach writes each batch of group under a savepoint of its own,
// rolling back only those that fail (their errors land in errs).
func (s *Store) writeEach(ctx context.Context, q querier, group []*batchReq, errs []error) error {
	for i, req := range group {
		if _, err := q.ExecContext(ctx, `SAVEPOINT batch`); err != nil {
			return err
		}
		errs[i] = s.writeOne(ctx, q, req)
		if errs[i] != nil {
			if _, err := q.ExecContext(ctx, `ROLLBACK TO SAVEPOINT batch`); err != nil {
				return err
			}
		}
		if _, err := q.ExecContext(ctx, `RELEASE SAVEPOINT batch`); err != nil {
			return err
		}
	}
	return nil
}

// writeBatch writes a batch to the run with key inside a transaction.
func (s *Store) writeBatch(ctx context.Context, q querier, key string, b tracking.Batch) error {
	for _, p := range b.Params {
		res, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_params (run_key, key, value) VALUES (?,?,?) ON CONFLICT (run_key, key) DO NOTHING`), key, p.Key, p.Value)
		if err != nil {
			return fmt.Errorf("log param %s: %w", p.Key, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var old string
			if err := q.QueryRowContext(ctx, s.d.q(`SELECT value FROM mlflow_params WHERE run_key = ? AND key = ?`), key, p.Key).Scan(&old); err != nil {
				return err
			}
			if old != p.Value {
				return &tracking.ParamChangedError{Key: p.Key, Old: old, New: p.Value}
			}
		}
	}
	for _, t := range b.Tags {
		if err := s.upsertTag(ctx, q, key, t); err != nil {
			return fmt.Errorf("set tag %s: %w", t.Key, err)
		}
		if t.Key == "mlflow.runName" && t.Value != "" {
			if _, err := q.ExecContext(ctx, s.d.q(`UPDATE mlflow_runs SET run_name = ? WHERE run_key = ?`), t.Value, key); err != nil {
				return err
			}
		}
	}
	return s.writeMetrics(ctx, q, key, b.Metrics)
}

// metricChunk bounds the rows of one multi-row INSERT (and so the number
// of distinct statements cached).
const metricChunk = 100

// writeMetrics appends metric points (one chunk per key), then moves each
// key's latest point: the one of the highest step, then timestamp, then
// value (as MLflow's SQL store keeps it). Both are multi-row statements.
func (s *Store) writeMetrics(ctx context.Context, q querier, key string, ms []tracking.Metric) error {
	latest := map[string]int{}
	var order []string
	for i, m := range ms {
		j, ok := latest[m.Key]
		if !ok {
			order = append(order, m.Key)
			latest[m.Key] = i
			continue
		}
		if later(m, ms[j]) {
			latest[m.Key] = i
		}
	}
	if err := s.appendChunks(ctx, q, key, ms); err != nil {
		return err
	}
	for lo := 0; lo < len(order); lo += metricChunk {
		part := order[lo:min(lo+metricChunk, len(order))]
		args := make([]any, 0, 6*len(part))
		for _, k := range part {
			args = appendMetricArgs(args, key, ms[latest[k]])
		}
		if _, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_latest_metrics (run_key, key, step, ts, value, is_nan) VALUES `+rows6(len(part))+`
			ON CONFLICT (run_key, key) DO UPDATE SET step = excluded.step, ts = excluded.ts, value = excluded.value, is_nan = excluded.is_nan
			WHERE excluded.step > mlflow_latest_metrics.step
			   OR (excluded.step = mlflow_latest_metrics.step AND excluded.ts > mlflow_latest_metrics.ts)
			   OR (excluded.step = mlflow_latest_metrics.step AND excluded.ts = mlflow_latest_metrics.ts AND excluded.value > mlflow_latest_metrics.value)`),
			args...); err != nil {
			return fmt.Errorf("log metrics: %w", err)
		}
	}
	return nil
}

// later reports whether a is a later point than b of the same key.
func later(a, b tracking.Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	return a.Value > b.Value
}

func appendMetricArgs(args []any, key string, m tracking.Metric) []any {
	v, nan := m.Value, 0
	if math.IsNaN(v) {
		v, nan = 0, 1
	}
	return append(args, key, m.Key, m.Step, m.Timestamp, v, nan)
}

// rows6 is "(?,?,?,?,?,?),…" for n rows.
func rows6(n int) string {
	return strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?),", n), ",")
}

// DeleteRunTag implements store.Tracking.
func (s *Store) DeleteRunTag(ctx context.Context, ws, runID, key string) error {
	return s.txq(ctx, func(q querier) error {
		rr, err := s.activeRun(ctx, q, ws, runID)
		if err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM mlflow_tags WHERE run_key = ? AND key = ?`), rr.key, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("tag %s of run %s: %w", key, runID, store.ErrNotFound)
		}
		return nil
	})
}

// LogInputs implements store.Tracking.
func (s *Store) LogInputs(ctx context.Context, ws, runID string, in []tracking.DatasetInput) error {
	return s.txq(ctx, func(q querier) error {
		rr, err := s.activeRun(ctx, q, ws, runID)
		if err != nil {
			return err
		}
		have := rr.run.Inputs
		for _, d := range in {
			dup := false
			for i, h := range have {
				if h.Dataset.Name == d.Dataset.Name && h.Dataset.Digest == d.Dataset.Digest {
					have[i], dup = d, true
				}
			}
			if !dup {
				have = append(have, d)
			}
		}
		b, err := json.Marshal(have)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, s.d.q(`UPDATE mlflow_runs SET inputs = ? WHERE run_key = ?`), string(b), rr.key)
		return err
	})
}

func scanMetric(sc interface{ Scan(...any) error }, m *tracking.Metric, extra ...any) error {
	var nan int
	if err := sc.Scan(append([]any{&m.Key, &m.Value, &nan, &m.Timestamp, &m.Step}, extra...)...); err != nil {
		return err
	}
	if nan != 0 {
		m.Value = math.NaN()
	}
	return nil
}

// MetricHistory implements store.Tracking.
func (s *Store) MetricHistory(ctx context.Context, ws, runID, key string, offset, limit int) ([]tracking.Metric, error) {
	rr, err := s.lookupRun(ctx, s.r, ws, runID)
	if err != nil {
		return nil, err
	}
	pts, err := s.readPoints(ctx, rr.key, key)
	if err != nil {
		return nil, err
	}
	pts = pts[min(offset, len(pts)):]
	if limit > 0 {
		pts = pts[:min(limit, len(pts))]
	}
	out := make([]tracking.Metric, len(pts))
	for i, p := range pts {
		out[i] = tracking.Metric{Key: key, Value: p.value(), Timestamp: p.ts, Step: p.step}
	}
	return out, nil
}

// samplePoints keeps at most limit points, evenly spread and with the
// first and the last, as MLflow's bulk interval samples a long history for
// a chart.
func samplePoints(pts []point, limit int) []point {
	if limit <= 0 || len(pts) <= limit {
		return pts
	}
	if limit == 1 {
		return pts[:1]
	}
	out := make([]point, 0, limit)
	for i := range limit {
		out = append(out, pts[i*(len(pts)-1)/(limit-1)])
	}
	return out
}

// MetricHistoryInterval implements store.Tracking.
func (s *Store) MetricHistoryInterval(ctx context.Context, ws string, runIDs []string, key string, start, end int64, limit int) ([]tracking.Metric, error) {
	var out []tracking.Metric
	for _, id := range runIDs {
		rr, err := s.lookupRun(ctx, s.r, ws, id)
		if err != nil {
			return nil, err
		}
		pts, err := s.readPoints(ctx, rr.key, key)
		if err != nil {
			return nil, err
		}
		var in []point
		for _, p := range pts {
			if p.step >= start && p.step <= end {
				in = append(in, p)
			}
		}
		for _, p := range samplePoints(in, limit) {
			out = append(out, tracking.Metric{Key: key, Value: p.value(), Timestamp: p.ts, Step: p.step, RunID: id})
		}
	}
	return out, nil
}

// DeleteWorkspaceTracking implements store.Tracking.
func (s *Store) DeleteWorkspaceTracking(ctx context.Context, ws string) (int, error) {
	var runs int
	err := s.txq(ctx, func(q querier) error {
		for _, table := range []string{"mlflow_params", "mlflow_tags", "mlflow_metric_chunks", "mlflow_latest_metrics"} {
			if _, err := q.ExecContext(ctx, s.d.q(`DELETE FROM `+table+` WHERE run_key IN (SELECT run_key FROM mlflow_runs WHERE workspace = ?)`), ws); err != nil {
				return err
			}
		}
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM mlflow_runs WHERE workspace = ?`), ws)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		runs = int(n)
		for _, table := range []string{"mlflow_experiment_tags", "mlflow_experiments", "mlflow_model_versions", "mlflow_registered_models"} {
			if _, err := q.ExecContext(ctx, s.d.q(`DELETE FROM `+table+` WHERE workspace = ?`), ws); err != nil {
				return err
			}
		}
		return nil
	})
	return runs, err
}
