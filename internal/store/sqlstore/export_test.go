package sqlstore

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
