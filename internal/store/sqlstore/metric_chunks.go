package sqlstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mlw-project/mlw/internal/tracking"
)

// Metric history, packed. A row per point costs SQLite (through
// database/sql) about 2 µs to read back, so a history of 100,000 points
// would take 200 ms before any JSON; MLflow's aims ask for half that.
// Points are therefore kept in chunks: each log-batch appends one chunk per
// key (24 bytes a point: step, timestamp, the value's IEEE 754 bits, so NaN
// and ±Inf survive), and the small chunks of a key are merged now and
// then (compaction, by size class), so that a long history is a few
// hundred rows of about chunkTarget points or more. A read merges a key's chunks in order of (step,
// timestamp, value) and drops points logged twice, which also makes a
// compaction that two replicas ran at once harmless.

const (
	pointSize = 24
	// Chunks are merged by size class, so that a point is rewritten a few
	// times, not once per compaction: chunks under smallChunk points are
	// merged whenever a compaction runs; then chunks from smallChunk to
	// chunkTarget points, once there are midChunks of them; bigger chunks
	// stay as they are.
	smallChunk  = 32
	chunkTarget = 1024
	midChunks   = 16
	// compactEvery: about one chunk write in this many compacts its key
	// (a compaction costs a few statements; a few hundred tiny chunks cost
	// a read little).
	compactEvery = 128
)

// point is one metric point.
type point struct {
	step, ts int64
	bits     uint64
}

func (p point) value() float64 { return math.Float64frombits(p.bits) }

func comparePoints(a, b point) int {
	if c := cmp.Compare(a.step, b.step); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	return cmp.Compare(a.value(), b.value())
}

func encodePoints(pts []point) []byte {
	b := make([]byte, len(pts)*pointSize)
	for i, p := range pts {
		o := i * pointSize
		binary.LittleEndian.PutUint64(b[o:], uint64(p.step))
		binary.LittleEndian.PutUint64(b[o+8:], uint64(p.ts))
		binary.LittleEndian.PutUint64(b[o+16:], p.bits)
	}
	return b
}

func decodePoints(dst []point, b []byte) ([]point, error) {
	if len(b)%pointSize != 0 {
		return nil, fmt.Errorf("a metric chunk of %d bytes is not a whole number of points", len(b))
	}
	for o := 0; o < len(b); o += pointSize {
		dst = append(dst, point{step: int64(binary.LittleEndian.Uint64(b[o:])), ts: int64(binary.LittleEndian.Uint64(b[o+8:])),
			bits: binary.LittleEndian.Uint64(b[o+16:])})
	}
	return dst, nil
}

// sortPoints orders points and drops the ones logged twice.
func sortPoints(pts []point) []point {
	slices.SortFunc(pts, comparePoints)
	return slices.CompactFunc(pts, func(a, b point) bool { return a == b })
}

// chunkSeq numbers chunks: time-ordered and unique within the process
// (replicas differ in the nanoseconds; a clash is a unique violation that
// fails the one batch).
var chunkSeq atomic.Int64

func nextSeq() int64 {
	now := time.Now().UnixNano()
	for {
		old := chunkSeq.Load()
		n := max(now, old+1)
		if chunkSeq.CompareAndSwap(old, n) {
			return n
		}
	}
}

// appendChunks writes one chunk per key of ms, and compacts a key now and
// then.
func (s *Store) appendChunks(ctx context.Context, q querier, runKey string, ms []tracking.Metric) error {
	byKey := map[string][]point{}
	var keys []string
	for _, m := range ms {
		if _, ok := byKey[m.Key]; !ok {
			keys = append(keys, m.Key)
		}
		byKey[m.Key] = append(byKey[m.Key], point{step: m.Step, ts: m.Timestamp, bits: math.Float64bits(m.Value)})
	}
	for lo := 0; lo < len(keys); lo += metricChunk {
		part := keys[lo:min(lo+metricChunk, len(keys))]
		args := make([]any, 0, 5*len(part))
		var compact []string
		for _, k := range part {
			seq := nextSeq()
			pts := sortPoints(byKey[k])
			args = append(args, runKey, k, seq, len(pts), encodePoints(pts))
			if seq%compactEvery == 0 {
				compact = append(compact, k)
			}
		}
		if _, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_metric_chunks (run_key, key, seq, n, data) VALUES `+rowsN(len(part), 5)), args...); err != nil {
			return fmt.Errorf("log metrics: %w", err)
		}
		for _, k := range compact {
			if err := s.compactChunks(ctx, q, runKey, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// compactChunks merges a key's small chunks into one, and its middle-sized
// ones once there are enough of them.
func (s *Store) compactChunks(ctx context.Context, q querier, runKey, key string) error {
	merged, err := s.mergeChunks(ctx, q, runKey, key, 0, smallChunk, 2)
	if err != nil || !merged {
		// Middle-sized chunks are made by merges (or written as they are
		// by big batches, which read back cheaply as they are).
		return err
	}
	_, err = s.mergeChunks(ctx, q, runKey, key, smallChunk, chunkTarget, midChunks)
	return err
}

// mergeChunks merges the chunks of a key with lo <= n < hi points into
// one, when there are at least least of them, and says whether it did.
func (s *Store) mergeChunks(ctx context.Context, q querier, runKey, key string, lo, hi, least int) (bool, error) {
	const where = ` FROM mlflow_metric_chunks WHERE run_key = ? AND key = ? AND n >= ? AND n < ?`
	var count int
	if err := q.QueryRowContext(ctx, s.d.q(`SELECT COUNT(*)`+where), runKey, key, lo, hi).Scan(&count); err != nil {
		return false, fmt.Errorf("compact metric %s: %w", key, err)
	}
	if count < least {
		return false, nil
	}
	rows, err := q.QueryContext(ctx, s.d.q(`SELECT data`+where), runKey, key, lo, hi)
	if err != nil {
		return false, fmt.Errorf("compact metric %s: %w", key, err)
	}
	var pts []point
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return false, err
		}
		if pts, err = decodePoints(pts, b); err != nil {
			rows.Close()
			return false, err
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return false, err
	}
	pts = sortPoints(pts)
	if _, err := q.ExecContext(ctx, s.d.q(`DELETE`+where), runKey, key, lo, hi); err != nil {
		return false, fmt.Errorf("compact metric %s: %w", key, err)
	}
	_, err = q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_metric_chunks (run_key, key, seq, n, data) VALUES (?,?,?,?,?)`), runKey, key, nextSeq(), len(pts), encodePoints(pts))
	return err == nil, err
}

// readPoints returns a key's points in order, each once.
func (s *Store) readPoints(ctx context.Context, runKey, key string) ([]point, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q(`SELECT n, data FROM mlflow_metric_chunks WHERE run_key = ? AND key = ?`), runKey, key)
	if err != nil {
		return nil, fmt.Errorf("metric history: %w", err)
	}
	defer rows.Close()
	// The blobs first, then one slice of the right size for all points.
	var blobs [][]byte
	total := 0
	for rows.Next() {
		var n int
		var b []byte
		if err := rows.Scan(&n, &b); err != nil {
			return nil, err
		}
		blobs = append(blobs, b)
		total += len(b) / pointSize
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	pts := make([]point, 0, total)
	for _, b := range blobs {
		if pts, err = decodePoints(pts, b); err != nil {
			return nil, err
		}
	}
	return sortPoints(pts), nil
}

// rowsN is "(?,…),…" for n rows of cols values.
func rowsN(n, cols int) string {
	row := "(?" + repeat(",?", cols-1) + "),"
	s := repeat(row, n)
	return s[:len(s)-1]
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}
