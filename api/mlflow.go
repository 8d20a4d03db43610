package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"

	"github.com/mlw-project/mlw/protocol"
)

// Metric is the latest point of one metric of an MLflow run.
type Metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"-"`
	Text      string  `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

// RunMetrics returns the latest value of each metric a job (an MLflow run
// named like the job) logged, by key; none when it has no run yet.
func (c *Client) RunMetrics(ctx context.Context, ws WorkspaceRef, run string) ([]Metric, error) {
	wsID, err := c.WorkspaceID(ctx, ws)
	if err != nil {
		return nil, err
	}
	var out struct {
		Run struct {
			Data struct {
				Metrics []struct {
					Key       string          `json:"key"`
					Value     json.RawMessage `json:"value"`
					Timestamp int64           `json:"timestamp"`
					Step      int64           `json:"step"`
				} `json:"metrics"`
			} `json:"data"`
		} `json:"run"`
	}
	_, err = c.Do(ctx, http.MethodGet, protocol.MLflowTrackingPath(wsID)+"/api/2.0/mlflow/runs/get?run_id="+url.QueryEscape(run), nil, &out)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ms := make([]Metric, 0, len(out.Run.Data.Metrics))
	for _, m := range out.Run.Data.Metrics {
		x := Metric{Key: m.Key, Timestamp: m.Timestamp, Step: m.Step, Text: string(m.Value)}
		if err := json.Unmarshal(m.Value, &x.Value); err != nil {
			_ = json.Unmarshal(m.Value, &x.Text) // "NaN", "Infinity"
		}
		ms = append(ms, x)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Key < ms[j].Key })
	return ms, nil
}
