package tracking

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// ErrNotActive is returned by writes to a run that is deleted.
var ErrNotActive = errors.New("the run is not active")

// View types of searches (MLflow's ViewType).
const (
	ActiveOnly  = "ACTIVE_ONLY"
	DeletedOnly = "DELETED_ONLY"
	AllViews    = "ALL"
)

// ParseViewType reads a view type ("" is ACTIVE_ONLY; numbers as the
// protobuf enum: 1, 2, 3).
func ParseViewType(field, v string) (string, error) {
	switch strings.ToUpper(v) {
	case "", ActiveOnly, "1":
		return ActiveOnly, nil
	case DeletedOnly, "2":
		return DeletedOnly, nil
	case AllViews, "3":
		return AllViews, nil
	}
	return "", Invalid(field, "Invalid value %q for %s: use ACTIVE_ONLY, DELETED_ONLY or ALL.", v, field)
}

// Stages returns the lifecycle stages a view type selects.
func Stages(view string) []string {
	switch view {
	case DeletedOnly:
		return []string{Deleted}
	case AllViews:
		return []string{Active, Deleted}
	}
	return []string{Active}
}

// RunQuery selects runs of one workspace for runs/search.
type RunQuery struct {
	Workspace     string
	ExperimentIDs []string
	Filter        []Clause
	OrderBy       []Order
	ViewType      string
	// Offset skips that many runs; Limit caps the answer (the store may
	// return one more, to say that another page follows).
	Offset, Limit int
}

// ExperimentQuery selects experiments of one workspace.
type ExperimentQuery struct {
	Workspace     string
	Filter        []Clause
	OrderBy       []Order
	ViewType      string
	Offset, Limit int
}

// RunUpdate is what runs/update (and delete, restore) change; empty
// fields stay as they are.
type RunUpdate struct {
	Status         string
	EndTime        *int64
	RunName        *string
	LifecycleStage string
}

// Batch is what log-batch (and log-metric, log-parameter, set-tag) write.
type Batch struct {
	Metrics []Metric
	Params  []KV
	Tags    []KV
}

// pageToken is the decoded form of an opaque page token.
type pageToken struct {
	Offset int `json:"offset"`
}

// PageToken returns the token of the page that starts at offset.
func PageToken(offset int) string {
	b, _ := json.Marshal(pageToken{Offset: offset})
	return base64.URLEncoding.EncodeToString(b)
}

// ParsePageToken returns the offset a page token stands for ("" is 0).
func ParsePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.URLEncoding.DecodeString(tok)
	var p pageToken
	if err != nil || json.Unmarshal(b, &p) != nil || p.Offset < 0 {
		return 0, Invalid("page_token", "Invalid page token %q: pass the next_page_token of the previous answer as it was.", tok)
	}
	return p.Offset, nil
}
