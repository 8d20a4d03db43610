package service

import (
	"context"
	"encoding/json"
	"strings"

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

// runFlavors reads the flavors of the model at source from the MLmodel
// its run logged (the mlflow.log-model.history tag), as Azure ML shows
// them: each flavor's fields as strings (nested ones as JSON). nil when
// the run logged no model there.
func (s *Service) runFlavors(ctx context.Context, ws, runID, source string) map[string]map[string]string {
	r, err := s.Store.GetRun(ctx, ws, runID)
	if err != nil {
		return nil
	}
	rel, ok := strings.CutPrefix(source, r.Info.ArtifactURI+"/")
	if !ok {
		return nil
	}
	var history []struct {
		ArtifactPath string                    `json:"artifact_path"`
		Flavors      map[string]map[string]any `json:"flavors"`
	}
	for _, t := range r.Tags {
		if t.Key == logModelTag {
			_ = json.Unmarshal([]byte(t.Value), &history)
		}
	}
	for i := len(history) - 1; i >= 0; i-- {
		if strings.Trim(history[i].ArtifactPath, "/") != strings.Trim(rel, "/") {
			continue
		}
		out := map[string]map[string]string{}
		for name, fields := range history[i].Flavors {
			data := map[string]string{}
			for k, v := range fields {
				if str, ok := v.(string); ok {
					data[k] = str
				} else if b, err := json.Marshal(v); err == nil {
					data[k] = string(b)
				}
			}
			out[name] = data
		}
		return out
	}
	return nil
}
