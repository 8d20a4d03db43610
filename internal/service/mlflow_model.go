package service

import (
	"context"
	"encoding/json"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/tracking"
)

// logModelTag is the tag where MLflow records the models logged in a run.
const logModelTag = "mlflow.log-model.history"

// LogModel records a model logged in a run (runs/log-model): its MLmodel
// document is appended to the run's mlflow.log-model.history tag, as
// MLflow's tracking server does.
func (s *Service) LogModel(ctx context.Context, ref core.WorkspaceRef, runID, modelJSON string) error {
	var model map[string]any
	if err := json.Unmarshal([]byte(modelJSON), &model); err != nil || model == nil {
		return tracking.Invalid("model_json", "Invalid model_json: it must be a JSON object (the MLmodel document).")
	}
	r, err := s.GetRun(ctx, ref, runID)
	if err != nil {
		return err
	}
	var history []any
	for _, t := range r.Tags {
		if t.Key == logModelTag {
			_ = json.Unmarshal([]byte(t.Value), &history)
		}
	}
	history = append(history, model)
	b, err := json.Marshal(history)
	if err != nil {
		return core.Internal(err)
	}
	if len(b) > tracking.MaxTagValue {
		// Keep the newest models that fit in a tag.
		for len(history) > 1 && len(b) > tracking.MaxTagValue {
			history = history[1:]
			b, _ = json.Marshal(history)
		}
	}
	return s.LogBatch(ctx, ref, runID, tracking.Batch{Tags: []tracking.KV{{Key: logModelTag, Value: string(b)}}})
}
