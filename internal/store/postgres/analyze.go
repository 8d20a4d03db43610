package postgres

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL plans a query by its statistics of the tables, which
// autovacuum gathers at most once a minute (autovacuum_naptime). A table
// filled within that minute of its creation has none, and the planner
// takes its thousands of rows for one: a search of 10,000 MLflow runs
// logged just after the database was made took 14 s (nested loops over
// every run for each metric row) instead of 25 ms. So every few seconds
// mlw analyzes its tables that were never analyzed and have had at least
// analyzeRows rows written; after that autovacuum keeps them up to date.
const (
	analyzeEvery = 5 * time.Second
	analyzeRows  = 1000
)

// unanalyzed lists the tables of the current schema that were never
// analyzed, and whether at least analyzeRows rows were written to each.
const unanalyzed = `SELECT relname, n_mod_since_analyze >= $1 FROM pg_stat_user_tables
	WHERE schemaname = current_schema() AND last_analyze IS NULL AND last_autoanalyze IS NULL
	ORDER BY relname`

// analyzeNew analyzes the never-analyzed tables that have had analyzeRows
// rows written, and returns their names and how many never-analyzed
// tables it left (too small yet).
func analyzeNew(ctx context.Context, db *sql.DB) (analyzed []string, left int, err error) {
	rows, err := db.QueryContext(ctx, unanalyzed, analyzeRows)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var n string
		var filled bool
		if err := rows.Scan(&n, &filled); err != nil {
			rows.Close()
			return nil, 0, err
		}
		if filled {
			analyzed = append(analyzed, n)
		} else {
			left++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	for _, n := range analyzed {
		if _, err := db.ExecContext(ctx, "ANALYZE "+pgx.Identifier{n}.Sanitize()); err != nil {
			return nil, 0, err
		}
	}
	return analyzed, left, nil
}

// startAnalyzer runs analyzeNew every analyzeEvery until every table has
// been analyzed once (by it or by autovacuum) or the returned stop is
// called. Its errors are not the store's: a pass that fails (a lock, a
// dropped connection) is tried again at the next tick.
func startAnalyzer(db *sql.DB) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(analyzeEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, left, err := analyzeNew(ctx, db); err == nil && left == 0 {
					return // autovacuum keeps them up to date from here
				}
			}
		}
	}()
	var once sync.Once
	return func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return nil
	}
}
