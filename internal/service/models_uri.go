package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// Where a model version's files are, in both APIs' words. MLflow keeps a
// version's source (mlflow-artifacts:/<path> for files in the
// workspace's artifact store, which the stock client downloads through
// the artifact proxy); Azure ML shows a modelUri. The mapping
// (docs/mlflow.md, "Azure ML models"):
//
//	Azure ML modelUri (PUT)                              MLflow source
//	azureml://jobs/<job>/outputs/artifacts/paths/<p>     mlflow-artifacts:/ExperimentRun/dcid.<job>/<p> (run <job>)
//	runs:/<run>/<p>                                      the run's artifact URI + /<p> (run <run>)
//	azureml://datastores/workspaceartifactstore/paths/<p>
//	  (or any datastore on container azureml; also the long form)  mlflow-artifacts:/<p>
//	azureml://datastores/<ds>/paths/<p> (another container)      azureml://subscriptions/…/workspaces/<ws>/datastores/<ds>/paths/<p>
//	anything else (https://…, models:/…)                 as it is
//
// and back: a source mlflow-artifacts:/<p> is shown as
// azureml://subscriptions/…/workspaces/<ws>/datastores/workspaceartifactstore/paths/<p>
// (what ml_client.models.download reads), any other as it is.

const mlflowArtifactsScheme = "mlflow-artifacts:"

// longDatastoreURI is a parsed
// azureml://subscriptions/<sub>/resourcegroups/<rg>/workspaces/<ws>/datastores/<ds>/paths/<p>
// (the form azure-ai-ml writes a model's path in; the provider segment
// providers/Microsoft.MachineLearningServices may come before workspaces).
type longDatastoreURI struct {
	ws        core.WorkspaceRef
	datastore string
	path      string
}

// parseLongDatastoreURI reads the long azureml:// datastore form.
func parseLongDatastoreURI(uri string) (longDatastoreURI, bool) {
	rest, ok := cutPrefixFold(uri, "azureml://subscriptions/")
	if !ok {
		return longDatastoreURI{}, false
	}
	seg := strings.Split(rest, "/")
	if len(seg) >= 5 && strings.EqualFold(seg[3], "providers") {
		// …/providers/Microsoft.MachineLearningServices/workspaces/…
		if !strings.EqualFold(seg[4], core.Provider) {
			return longDatastoreURI{}, false
		}
		seg = append(seg[:3:3], seg[5:]...)
	}
	if len(seg) < 8 || !strings.EqualFold(seg[1], "resourcegroups") || !strings.EqualFold(seg[3], "workspaces") ||
		!strings.EqualFold(seg[5], "datastores") || !strings.EqualFold(seg[7], "paths") {
		return longDatastoreURI{}, false
	}
	p := ""
	if len(seg) > 8 {
		p = strings.Join(seg[8:], "/")
	}
	return longDatastoreURI{ws: core.WorkspaceRef{Subscription: seg[0], ResourceGroup: seg[2], Workspace: seg[4]}, datastore: seg[6], path: p}, true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// longURI writes the long azureml:// form of a path in a datastore of ws.
func longURI(ws core.WorkspaceRef, datastore, p string) string {
	return fmt.Sprintf("azureml://subscriptions/%s/resourcegroups/%s/workspaces/%s/datastores/%s/paths/%s",
		ws.Subscription, ws.ResourceGroup, ws.Workspace, datastore, p)
}

// ModelURI is a version's modelUri as Azure ML shows it.
func ModelURI(ws *resource.Object, v *tracking.ModelVersion) string {
	if p, ok := strings.CutPrefix(v.Source, mlflowArtifactsScheme); ok {
		return longURI(resource.WorkspaceRefOf(ws), resource.DatastoreArtifacts, strings.TrimLeft(p, "/"))
	}
	return v.Source
}

// modelSource maps a modelUri to the source MLflow keeps and the run it
// names ("" for none). Errors are 400s on properties.modelUri.
func (s *Service) modelSource(ctx context.Context, ws *resource.Object, uri string) (source, run string, err error) {
	const field = "properties.modelUri"
	uri = strings.TrimSpace(uri)
	if rest, ok := cutPrefixFold(uri, "azureml://jobs/"); ok {
		job, p, _ := strings.Cut(rest, "/")
		p, ok = cutPrefixFold(p, "outputs/artifacts/")
		if !ok || job == "" {
			return "", "", core.Invalid(field, "modelUri %q is not a job's output: use azureml://jobs/<job>/outputs/artifacts/paths/<path>.", uri)
		}
		p, _ = cutPrefixFold(p, "paths/")
		return artifactSource(resource.JobArtifactPrefix(job) + p), job, nil
	}
	if rest, ok := strings.CutPrefix(uri, "runs:/"); ok {
		run, p, _ := strings.Cut(rest, "/")
		r, err := s.Store.GetRun(ctx, ws.UID, run)
		if errors.Is(err, store.ErrNotFound) {
			return "", "", core.Invalid(field, "modelUri %q names run '%s', which workspace '%s' has no record of: use the run id of a job or an MLflow run of this workspace.", uri, run, ws.Name)
		}
		if err != nil {
			return "", "", core.Internal(err)
		}
		return strings.TrimSuffix(r.Info.ArtifactURI+"/"+strings.Trim(p, "/"), "/"), run, nil
	}
	ds, p, ok := "", "", false
	if long, isLong := parseLongDatastoreURI(uri); isLong {
		ref := resource.WorkspaceRefOf(ws)
		if !strings.EqualFold(long.ws.Workspace, ref.Workspace) || !strings.EqualFold(long.ws.ResourceGroup, ref.ResourceGroup) ||
			!strings.EqualFold(long.ws.Subscription, ref.Subscription) {
			return "", "", core.Invalid(field, "modelUri %q is in workspace '%s'; a model of workspace '%s' points into its own datastores.", uri, long.ws.Workspace, ws.Name)
		}
		ds, p, ok = long.datastore, long.path, true
	} else if rest, isShort := cutPrefixFold(uri, "azureml://datastores/"); isShort {
		ds, p, _ = strings.Cut(rest, "/")
		p, _ = cutPrefixFold(p, "paths/")
		ok = true
	}
	switch {
	case ok:
		d, err := s.datastoreOf(ctx, ws, ds)
		if err != nil {
			return "", "", asJobError(err, field)
		}
		if _, container := DatastoreLocation(ws, d); container == resource.ArtifactContainer {
			return artifactSource(p), "", nil
		}
		return longURI(resource.WorkspaceRefOf(ws), d.Name, p), "", nil
	case strings.HasPrefix(strings.ToLower(uri), "azureml:"):
		return "", "", core.Invalid(field, "modelUri %q is not a form mlw reads: use a datastore path (azureml://datastores/<datastore>/paths/<path>), a job's output (azureml://jobs/<job>/outputs/artifacts/paths/<path>), runs:/<run>/<path> or a URL.", uri)
	}
	return uri, "", nil
}

// artifactSource is the MLflow source of a path in the artifact store.
func artifactSource(p string) string {
	return mlflowArtifactsScheme + "/" + strings.Trim(p, "/")
}
