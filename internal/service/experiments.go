package service

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
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
func (s *Service) ListExperiments(ctx context.Context, ref core.WorkspaceRef) (*resource.Object, []*Experiment, error) {
	ws, err := s.GetWorkspace(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := s.Store.List(ctx, store.ListOptions{Kind: core.KindJob, Parent: resource.WorkspaceKey(ws)})
	if err != nil {
		return nil, nil, core.Internal(err)
	}
	byName := map[string]*Experiment{}
	for _, j := range jobs {
		if j.Deleting {
			continue
		}
		// Only two fields of each spec are needed: decoding the whole
		// JobSpec of a long history would cost most of the answer.
		var spec struct {
			Properties struct {
				ExperimentName string `json:"experimentName"`
				IsArchived     bool   `json:"isArchived"`
			} `json:"properties"`
		}
		if json.Unmarshal(j.Spec, &spec) != nil || spec.Properties.IsArchived {
			continue
		}
		name := spec.Properties.ExperimentName
		if name == "" {
			name = "Default"
		}
		key := strings.ToLower(name)
		e := byName[key]
		if e == nil {
			e = &Experiment{ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte("mlw:experiment:"+ws.UID+":"+key)).String(),
				Name: name, CreatedAt: j.CreatedAt, StatusCounts: map[string]int{}}
			byName[key] = e
		}
		e.Jobs++
		e.StatusCounts[j.State]++
		if j.CreatedAt.Before(e.CreatedAt) {
			e.CreatedAt = j.CreatedAt
		}
		if e.Latest == "" || j.CreatedAt.After(e.LatestAt) || j.CreatedAt.Equal(e.LatestAt) && j.Name > e.Latest {
			e.Name, e.Latest, e.LatestAt, e.LatestStatus = name, j.Name, j.CreatedAt, j.State
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
