package sqlstore

import "context"

// CachedStatements reports how many statements the writer's and the
// readers' caches hold.
func CachedStatements(s *Store) (w, r int) {
	s.wc.mu.RLock()
	w = len(s.wc.m)
	s.wc.mu.RUnlock()
	s.rc.mu.RLock()
	r = len(s.rc.m)
	s.rc.mu.RUnlock()
	return w, r
}

// MetricChunks counts the chunks of a run's metric.
func MetricChunks(ctx context.Context, s *Store, ws, runID, key string) (int, error) {
	rr, err := s.lookupRun(ctx, s.r, ws, runID)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.r.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*) FROM mlflow_metric_chunks WHERE run_key = ? AND key = ?`), rr.key, key).Scan(&n)
	return n, err
}

// CompactMetric compacts a run's metric now.
func CompactMetric(ctx context.Context, s *Store, ws, runID, key string) error {
	rr, err := s.lookupRun(ctx, s.r, ws, runID)
	if err != nil {
		return err
	}
	return s.txq(ctx, func(q querier) error { return s.compactChunks(ctx, q, rr.key, key) })
}
