package tracking

import (
	"regexp"
	"strings"
)

// The model registry: registered models and their versions
// (mlflow.register_model, MlflowClient's registry calls).

// Model version stages (moved by model-versions/transition-stage).
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// Stages are the stages a version may be in.
var ModelStages = []string{StageNone, StageStaging, StageProduction, StageArchived}

// RegisteredModel is a named model of a workspace.
type RegisteredModel struct {
	Workspace       string            `json:"-"`
	Name            string            `json:"-"`
	CreationTime    int64             `json:"-"`
	LastUpdatedTime int64             `json:"-"`
	Description     string            `json:"description,omitempty"`
	Tags            []KV              `json:"tags,omitempty"`
	Aliases         map[string]string `json:"aliases,omitempty"` // alias → version
	// AzureML is what Azure ML's models resource says of the model
	// beyond MLflow's fields.
	AzureML AzureMLAsset `json:"azureml,omitzero"`
}

// AzureMLAsset is what Azure ML's models resource (…/workspaces/{ws}/models)
// keeps of a registered model or a version beside MLflow's fields, in the
// same row: the registry is one, seen through two APIs (docs/mlflow.md,
// "Azure ML models").
type AzureMLAsset struct {
	// Properties are Azure ML's free-form properties (MLflow has none).
	Properties map[string]string `json:"properties,omitempty"`
	// Archived hides the model or version from lists that ask for
	// ActiveOnly. It is not MLflow's Archived stage.
	Archived bool `json:"archived,omitempty"`
	// ModelType of a version: custom_model, mlflow_model or triton_model
	// ("" for versions made through MLflow: mlflow_model).
	ModelType string `json:"model_type,omitempty"`
	// Flavors of a version: flavor → its data, as Azure ML shows them.
	Flavors map[string]map[string]string `json:"flavors,omitempty"`
	// Extra is the rest of what the client sent in properties, echoed
	// back as it came.
	Extra map[string]any `json:"extra,omitempty"`
}

// ModelVersion is one version of a registered model.
type ModelVersion struct {
	Workspace       string `json:"-"`
	Name            string `json:"-"`
	Version         int64  `json:"-"`
	CreationTime    int64  `json:"-"`
	LastUpdatedTime int64  `json:"-"`
	CurrentStage    string `json:"-"`
	Description     string `json:"description,omitempty"`
	Source          string `json:"source,omitempty"`
	RunID           string `json:"run_id,omitempty"`
	RunLink         string `json:"run_link,omitempty"`
	UserID          string `json:"user_id,omitempty"`
	Status          string `json:"status,omitempty"`
	Tags            []KV   `json:"tags,omitempty"`
	// AzureML is what Azure ML's models resource says of the version
	// beyond MLflow's fields.
	AzureML AzureMLAsset `json:"azureml,omitzero"`
}

// Registry is the grammar of registered-models/search and
// model-versions/search (name, tags; run_id and source_path for versions).
var Registry = Grammar{what: "models", attrs: map[string]string{"name": "name", "run_id": "run_id", "source_path": "source_path",
	"version_number": "version_number"}, entities: map[string]bool{EntTag: true, EntAttr: true}}

// Match reports whether a value passes a string clause (=, !=, LIKE,
// ILIKE, IN, NOT IN), for filters evaluated outside SQL.
func Match(c Clause, v string, ok bool) bool {
	switch c.Op {
	case OpEq:
		return ok && v == c.Str
	case OpNe:
		return ok && v != c.Str
	case OpLike:
		return ok && like(c.Str, false).MatchString(v)
	case OpILike:
		return ok && like(c.Str, true).MatchString(v)
	case OpIn, OpNotIn:
		in := false
		for _, x := range c.List {
			in = in || x == v
		}
		return ok && in == (c.Op == OpIn)
	}
	return false
}

// like compiles a SQL LIKE pattern.
func like(p string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)")
	} else {
		b.WriteString("(?s)")
	}
	b.WriteByte('^')
	for _, r := range p {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteByte('.')
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteByte('$')
	return regexp.MustCompile(b.String())
}
