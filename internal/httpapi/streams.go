package httpapi

import (
	"sync"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// DefaultMaxStreamsPerUser is how many endless streams (log follows,
// watches, terminals) one user may hold open at once on one server.
const DefaultMaxStreamsPerUser = 64

// streamRetry is the Retry-After of a refused stream: streams end when
// their clients go, so a slot is usually free again soon.
const streamRetry = 5 * time.Second

// streams counts each user's open endless streams. Each holds a
// goroutine, a connection and a poll of the store until its client goes,
// so one user (or a runaway script) must not be able to open them without
// bound.
type streams struct {
	mu   sync.Mutex
	max  int
	open map[string]int // user id → open streams
}

// beginStream reserves one of the caller's stream slots, or refuses with
// 429, Retry-After and the limit; call the returned func when the stream
// ends.
func (a *API) beginStream(r *Request) (release func(), err error) {
	user := ""
	if r.Principal != nil {
		user = r.Principal.UserID
	}
	s := &a.streams
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[user] >= s.max {
		return nil, core.TooManyRequests("TooManyStreams", streamRetry,
			"You have %d streams open (log follows, watches, terminals), the most this server allows one user at a time. Close some (other studio tabs, `mlw job stream` or `--watch` commands) and retry, or ask the administrator to raise the limit (`mlw server --max-streams-per-user`, or $MLW_MAX_STREAMS_PER_USER).", s.open[user])
	}
	s.open[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[user]--; s.open[user] <= 0 {
				delete(s.open, user)
			}
		})
	}, nil
}
