package service

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
)

// Experiment is a group of jobs sharing an experimentName (Azure keeps
// experiments as objects of run history; in mlw they are what the jobs
// say). Names are case-insensitive; Name is the spelling of the latest job.
type Experiment struct {
	ID   string
	Name string
	// CreatedAt is when its first job was submitted.
	CreatedAt time.Time
	// Latest is its newest job, submitted at LatestAt, now in LatestStatus.
	Latest       string
	LatestAt     time.Time
	LatestStatus string
	// Jobs counts its jobs, StatusCounts them by status.
	Jobs         int
	StatusCounts map[string]int
}

// ListExperiments groups the workspace's jobs by experimentName, the most
// recently used experiment first. Archived and deleted jobs do not count.
// The store counts them (JobGroups: by name as spelled and state); names
// are merged here in any case, as Go lowercases them.
func (s *Service) ListExperiments(ctx context.Context, ref core.WorkspaceRef) (*resource.Object, []*Experiment, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	groups, err := s.Store.JobGroups(ctx, resource.WorkspaceKey(ws))
	if err != nil {
		return nil, nil, core.Internal(err)
	}
	byName := map[string]*Experiment{}
	for _, g := range groups {
		name := g.Experiment
		if name == "" {
			name = "Default"
		}
		key := strings.ToLower(name)
		e := byName[key]
		if e == nil {
			e = &Experiment{ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte("mlw:experiment:"+ws.UID+":"+key)).String(),
				Name: name, CreatedAt: g.First, StatusCounts: map[string]int{}}
			byName[key] = e
		}
		e.Jobs += g.Jobs
		e.StatusCounts[g.State] += g.Jobs
		if g.First.Before(e.CreatedAt) {
			e.CreatedAt = g.First
		}
		if e.Latest == "" || g.LatestAt.After(e.LatestAt) || g.LatestAt.Equal(e.LatestAt) && strings.ToLower(g.Latest) > strings.ToLower(e.Latest) {
			e.Name, e.Latest, e.LatestAt, e.LatestStatus = name, g.Latest, g.LatestAt, g.State
		}
	}
	out := make([]*Experiment, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].LatestAt.Equal(out[b].LatestAt) {
			return out[a].LatestAt.After(out[b].LatestAt)
		}
		return strings.ToLower(out[a].Name) < strings.ToLower(out[b].Name)
	})
	return ws, out, nil
}
