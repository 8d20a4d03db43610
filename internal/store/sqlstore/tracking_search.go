package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/mlw-project/mlw/internal/tracking"
)

// Search: MLflow's filter clauses and orderings as SQL over the mlflow_*
// tables. Metrics, params and tags are matched by correlated subqueries on
// their primary keys, so a search costs one index probe per candidate run.

// placeholders returns "?,?,…" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// globPattern turns a LIKE pattern into a GLOB one: SQLite's LIKE ignores
// case, MLflow's LIKE does not.
func globPattern(like string) string {
	var b strings.Builder
	for _, r := range like {
		switch r {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[':
			b.WriteString("[" + string(r) + "]")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// compare is "col OP ?" for one clause, appending its arguments.
func (s *Store) compare(col string, c tracking.Clause, args *[]any) string {
	sqlite := s.d.Name == "sqlite"
	switch c.Op {
	case tracking.OpIn, tracking.OpNotIn:
		for _, v := range c.List {
			*args = append(*args, v)
		}
		return col + " " + c.Op + " (" + placeholders(len(c.List)) + ")"
	case tracking.OpLike:
		if sqlite {
			*args = append(*args, globPattern(c.Str))
			return col + " GLOB ?"
		}
		*args = append(*args, c.Str)
		return col + " LIKE ?"
	case tracking.OpILike:
		*args = append(*args, c.Str)
		if sqlite {
			return col + " LIKE ?"
		}
		return col + " ILIKE ?"
	}
	switch {
	case c.Entity == tracking.EntMetric:
		*args = append(*args, c.Num)
	case c.Numeric():
		*args = append(*args, int64(c.Num))
	default:
		*args = append(*args, c.Str)
	}
	return col + " " + c.Op + " ?"
}

// runAttrCols are the columns of run attributes.
var runAttrCols = map[string]string{
	"run_id": "r.run_id", "run_name": "r.run_name", "status": "r.status", "user_id": "r.user_id", "artifact_uri": "r.artifact_uri",
	"start_time": "r.start_time", "end_time": "r.end_time", "lifecycle_stage": "r.lifecycle_stage",
}

// dataTables are the tables of run data by entity.
var dataTables = map[string]string{tracking.EntMetric: "mlflow_latest_metrics", tracking.EntParam: "mlflow_params", tracking.EntTag: "mlflow_tags"}

// runSearch builds the SQL of a run search: each metric, param or tag
// clause is an inner join on its table's primary key (a run has one row
// per key there), which also lets SQLite start from the index of a
// selective metric filter; an ordering by one joins it (again, unless a
// filter has already), rows without the value last, as in MLflow.
type runSearch struct {
	s                   *Store
	joins, where, order []string
	joinArgs, whereArgs []any
	joined              map[string]string // entity and key of a filter → its alias
}

func (q *runSearch) filter(c tracking.Clause) {
	table, ok := dataTables[c.Entity]
	if !ok {
		q.where = append(q.where, q.s.compare(runAttrCols[c.Key], c, &q.whereArgs))
		return
	}
	alias := "f" + strconv.Itoa(len(q.joins))
	cond := alias + ".run_key = r.run_key AND " + alias + ".key = ?"
	q.joinArgs = append(q.joinArgs, c.Key)
	if c.Entity == tracking.EntMetric {
		cond += " AND " + alias + ".is_nan = 0"
	}
	cond += " AND " + q.s.compare(alias+".value", c, &q.joinArgs)
	q.joins = append(q.joins, "JOIN "+table+" "+alias+" ON "+cond)
	q.joined[c.Entity+"\x00"+c.Key] = alias
}

func (q *runSearch) orderBy(o tracking.Order) {
	dir := ""
	if !o.Asc {
		dir = " DESC"
	}
	table, ok := dataTables[o.Entity]
	if !ok {
		q.order = append(q.order, runAttrCols[o.Key]+dir)
		return
	}
	if alias, ok := q.joined[o.Entity+"\x00"+o.Key]; ok {
		q.order = append(q.order, alias+".value"+dir) // a filter's join: never NULL
		return
	}
	alias := "o" + strconv.Itoa(len(q.joins))
	q.joins = append(q.joins, "LEFT JOIN "+table+" "+alias+" ON "+alias+".run_key = r.run_key AND "+alias+".key = ?")
	q.joinArgs = append(q.joinArgs, o.Key)
	q.order = append(q.order, alias+".value IS NULL", alias+".value"+dir)
}

// SearchRuns implements store.Tracking.
func (s *Store) SearchRuns(ctx context.Context, q tracking.RunQuery) ([]*tracking.Run, error) {
	args := []any{q.Workspace}
	where := []string{"r.workspace = ?"}
	var ids []any
	for _, id := range q.ExperimentIDs {
		n, err := expID(id)
		if err != nil {
			continue // an id that cannot exist matches nothing
		}
		ids = append(ids, n)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	where = append(where, "r.exp_id IN ("+placeholders(len(ids))+")")
	args = append(args, ids...)
	stages := tracking.Stages(q.ViewType)
	where = append(where, "r.lifecycle_stage IN ("+placeholders(len(stages))+")")
	for _, st := range stages {
		args = append(args, st)
	}
	rs := &runSearch{s: s, joined: map[string]string{}}
	for _, c := range q.Filter {
		rs.filter(c)
	}
	for _, o := range q.OrderBy {
		rs.orderBy(o)
	}
	order := append(rs.order, "r.start_time DESC", "r.run_id")
	where = append(where, rs.where...)
	args = append(append(rs.joinArgs, args...), rs.whereArgs...)
	query := `SELECT ` + runCols + ` FROM mlflow_runs r ` + strings.Join(rs.joins, " ") + ` WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ` + strconv.Itoa(q.Limit+1) + ` OFFSET ` + strconv.Itoa(q.Offset)
	rows, err := s.r.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("search runs: %w", err)
	}
	var rrs []runRow
	for rows.Next() {
		rr, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		rrs = append(rrs, rr)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	if err := s.loadRunData(ctx, rrs); err != nil {
		return nil, err
	}
	out := make([]*tracking.Run, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.run
	}
	return out, nil
}

// loadRunData reads the latest metrics, params and tags of runs, a few
// hundred runs per query; a page of many runs is read in parts, two at a
// time, each on a reader connection of its own (the caller holds none, so
// the parts cannot wait on each other).
func (s *Store) loadRunData(ctx context.Context, rrs []runRow) error {
	const most, least = 500, 200
	if len(rrs) <= least {
		return s.loadRunPart(ctx, rrs)
	}
	size := min(most, (len(rrs)+1)/2)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for lo := 0; lo < len(rrs); lo += size {
		part := rrs[lo:min(lo+size, len(rrs))]
		g.Go(func() error { return s.loadRunPart(ctx, part) })
	}
	return g.Wait()
}

// loadRunPart reads the data of up to a few hundred runs.
func (s *Store) loadRunPart(ctx context.Context, part []runRow) error {
	byKey := make(map[string]*tracking.Run, len(part))
	keys := make([]any, len(part))
	for i, rr := range part {
		byKey[rr.key], keys[i] = rr.run, rr.key
	}
	keys = padKeys(keys)
	in := "(" + placeholders(len(keys)) + ")"
	if err := s.eachRow(ctx, `SELECT key, value, is_nan, ts, step, run_key FROM mlflow_latest_metrics WHERE run_key IN `+in+` ORDER BY run_key, key`, keys, func(sc func(...any) error) error {
		var k string
		var m tracking.Metric
		if err := scanMetric(scanFn(sc), &m, &k); err != nil {
			return err
		}
		r := byKey[k]
		r.Metrics = append(r.Metrics, m)
		return nil
	}); err != nil {
		return err
	}
	for _, t := range []struct {
		table string
		add   func(r *tracking.Run, kv tracking.KV)
	}{
		{"mlflow_params", func(r *tracking.Run, kv tracking.KV) { r.Params = append(r.Params, kv) }},
		{"mlflow_tags", func(r *tracking.Run, kv tracking.KV) { r.Tags = append(r.Tags, kv) }},
	} {
		if err := s.eachRow(ctx, `SELECT run_key, key, value FROM `+t.table+` WHERE run_key IN `+in+` ORDER BY run_key, key`, keys, func(sc func(...any) error) error {
			var k string
			var kv tracking.KV
			if err := sc(&k, &kv.Key, &kv.Value); err != nil {
				return err
			}
			t.add(byKey[k], kv)
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// padKeys pads a list of run keys with "" (no run's key) to a power of
// two, or above 64 to a multiple of 64, so that few distinct IN lists
// are prepared and cached.
func padKeys(keys []any) []any {
	n := 1
	for n < len(keys) && n < 64 {
		n *= 2
	}
	if len(keys) > 64 {
		n = (len(keys) + 63) / 64 * 64
	}
	for len(keys) < n {
		keys = append(keys, "")
	}
	return keys
}

// scanFn gives a scan function the Scan method scanMetric wants.
type scanFn func(...any) error

func (f scanFn) Scan(dest ...any) error { return f(dest...) }

// eachRow runs a read query and calls fn with each row's Scan.
func (s *Store) eachRow(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := s.r.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return fmt.Errorf("read run data: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// experimentCols are the columns of experiment attributes.
var experimentCols = map[string]string{
	"name": "e.name", "experiment_id": "e.exp_id", "creation_time": "e.creation_time",
	"last_update_time": "e.last_update_time", "lifecycle_stage": "e.lifecycle_stage",
}

// SearchExperiments implements store.Tracking.
func (s *Store) SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]*tracking.Experiment, error) {
	args := []any{q.Workspace}
	where := []string{"e.workspace = ?"}
	stages := tracking.Stages(q.ViewType)
	where = append(where, "e.lifecycle_stage IN ("+placeholders(len(stages))+")")
	for _, st := range stages {
		args = append(args, st)
	}
	for _, c := range q.Filter {
		if c.Entity == tracking.EntTag {
			args = append(args, c.Key)
			where = append(where, `EXISTS (SELECT 1 FROM mlflow_experiment_tags t WHERE t.workspace = e.workspace AND t.exp_id = e.exp_id AND t.key = ? AND `+s.compare("t.value", c, &args)+`)`)
			continue
		}
		if c.Key == "experiment_id" {
			// Ids are numbers in the table: compare them as numbers.
			vals := c.List
			if c.Op != tracking.OpIn && c.Op != tracking.OpNotIn {
				vals = []string{c.Str}
			}
			for _, v := range vals {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, tracking.Invalid("filter", "Invalid filter: experiment_id %q is not a number.", v)
				}
				args = append(args, n)
			}
			switch c.Op {
			case tracking.OpIn, tracking.OpNotIn:
				where = append(where, "e.exp_id "+c.Op+" ("+placeholders(len(vals))+")")
			case tracking.OpEq, tracking.OpNe:
				where = append(where, "e.exp_id "+c.Op+" ?")
			default:
				return nil, tracking.Invalid("filter", "Invalid filter: experiment_id supports =, !=, IN and NOT IN, not %s.", c.Op)
			}
			continue
		}
		where = append(where, s.compare(experimentCols[c.Key], c, &args))
	}
	var order []string
	for _, o := range q.OrderBy {
		col := experimentCols[o.Key]
		if !o.Asc {
			col += " DESC"
		}
		order = append(order, col)
	}
	order = append(order, "e.creation_time DESC", "e.exp_id")
	query := `SELECT e.workspace, e.exp_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time FROM mlflow_experiments e WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ` + strconv.Itoa(q.Limit+1) + ` OFFSET ` + strconv.Itoa(q.Offset)
	rows, err := s.r.QueryContext(ctx, s.d.q(query), args...)
	return s.scanExperiments(ctx, rows, err)
}
