package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/store"
)

// JobGroups counts a workspace's jobs by experiment and state in one
// GROUP BY that reads the two fields it needs from each spec inside the
// database instead of sending every job's row to Go. On SQLite it reads
// only the index resources_job_experiments, which holds those fields
// (json_extract) beside the columns the query needs, in the groups' order,
// so it reads one job's row per group (for the group's name), not every
// job's; on PostgreSQL it reads them with jsonb.
// A group's newest job is the greatest "created|name_key|name" (creation
// time zero-padded), so that one aggregate finds it.
func (s *Store) JobGroups(ctx context.Context, parent string) ([]store.JobGroup, error) {
	query := `SELECT json_extract(spec, '$.properties.experimentName'), state, COUNT(*), MIN(created_at),
			MAX(printf('%020d|%s|%s', created_at, name_key, name))
		FROM resources INDEXED BY resources_job_experiments
		WHERE kind = 'job' AND parent = ? AND deleting = 0 AND json_extract(spec, '$.properties.isArchived') IS NOT 1
		GROUP BY 1, 2`
	if s.d.Name != "sqlite" {
		query = `SELECT spec::jsonb #>> '{properties,experimentName}', state, COUNT(*), MIN(created_at),
			MAX((lpad(created_at::text, 20, '0') || '|' || name_key || '|' || name) COLLATE "C")
		FROM resources
		WHERE kind = 'job' AND parent = ? AND deleting = 0 AND (spec::jsonb #>> '{properties,isArchived}') IS DISTINCT FROM 'true'
		GROUP BY 1, 2`
	}
	rows, err := s.rdb.QueryContext(ctx, s.d.q(query), parent)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	var out []store.JobGroup
	for rows.Next() {
		var g store.JobGroup
		var exp sql.NullString
		var first int64
		var latest string
		if err := rows.Scan(&exp, &g.State, &g.Jobs, &first, &latest); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		at, rest, _ := strings.Cut(latest, "|")
		_, name, ok := strings.Cut(rest, "|")
		us, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("count jobs: newest job %q", latest)
		}
		g.Experiment, g.First, g.Latest, g.LatestAt = exp.String, fromMicros(first), name, fromMicros(us)
		out = append(out, g)
	}
	return out, rows.Err()
}
