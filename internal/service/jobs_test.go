package service_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

type jobAdmission struct {
	svc *service.Service
	st  store.Store
	ctx context.Context
	ref core.WorkspaceRef
	now time.Time
}

func setupJobAdmission(t *testing.T) *jobAdmission {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlw.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	a := &jobAdmission{st: st, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a.svc = service.New(st, nil, nil)
	a.svc.DataDir = t.TempDir()
	a.svc.Now = func() time.Time { a.now = a.now.Add(time.Second); return a.now }
	a.ctx = service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u1", Name: "alice", Role: identity.RoleOwner})
	require.NoError(t, a.svc.EnsureSubscription(a.ctx, "sub1", "test"))
	_, _, err = a.svc.PutGroup(a.ctx, "sub1", "rg1", jobBody(t, `{"location":"eastus"}`))
	require.NoError(t, err)
	a.ref = core.WorkspaceRef{Subscription: "sub1", ResourceGroup: "rg1", Workspace: "ws1"}
	_, _, err = a.svc.PutWorkspace(a.ctx, a.ref, jobBody(t, `{}`))
	require.NoError(t, err)
	_, _, _, err = a.svc.PutCompute(a.ctx, a.ref, "c1", jobBody(t, `{"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":2}}}}`))
	require.NoError(t, err)
	return a
}

func jobBody(t *testing.T, s string) *service.Body {
	t.Helper()
	b, err := service.ReadBody(strings.NewReader(s), 1<<20)
	require.NoError(t, err)
	return b
}

func jobDoc(props string) string {
	return `{"properties":{"jobType":"Command","command":"python train.py","environmentId":"azureml:AzureML-sklearn-1.5@latest","computeId":"c1"` + props + `}}`
}

func TestPutJobNormalises(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	j, created, err := a.svc.PutJob(a.ctx, a.ref, "job1", jobBody(t, jobDoc(`,"outputs":{"model":{"jobOutputType":"uri_folder"},"default":{"jobOutputType":"uri_folder"}},"status":"Completed"`)))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, resource.JobNotStarted, j.State)
	require.True(t, strings.HasSuffix(j.Owner, "/computes/c1"))
	spec, err := resource.JobSpecOf(j)
	require.NoError(t, err)
	require.Equal(t, resource.WorkspaceRefOf(a.mustWS(t)).ID()+"/computes/c1", spec.ComputeID)
	require.Equal(t, "Default", spec.ExperimentName)
	require.Equal(t, "job1", spec.DisplayName)
	require.Equal(t, "azureml://datastores/workspaceblobstore/paths/azureml/job1/model/", spec.Outputs["model"].URI)
	require.Equal(t, "ReadWriteMount", spec.Outputs["model"].Mode)
	require.NotContains(t, spec.Outputs, "default", "outputs.default is the server's")
	require.NotContains(t, string(j.Spec), `"status"`, "status is the server's")
}

func (a *jobAdmission) mustWS(t *testing.T) *resource.Object {
	ws, err := a.svc.GetWorkspace(a.ctx, a.ref)
	require.NoError(t, err)
	return ws
}

func TestPutJobErrors(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	for _, tc := range []struct {
		name, props, target, msg string
	}{
		{"unknown compute", `,"computeId":"nowhere"`, "properties.computeId", "The compute 'nowhere' was not found"},
		{"compute of another workspace", `,"computeId":"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/other/computes/c1"`, "properties.computeId", "belongs to workspace 'other'"},
		{"unknown environment", `,"environmentId":"azureml:AzureML-nope@latest"`, "properties.environmentId", "AzureML-nope"},
		{"no environment", `,"environmentId":""`, "properties.environmentId", "needs an environment"},
		{"no command", `,"command":" "`, "properties.command", "needs a command"},
		{"pipeline", `,"jobType":"Pipeline"`, "properties.jobType", "Command"},
		{"too many nodes", `,"resources":{"instanceCount":3}`, "properties.resources.instanceCount", "at most 2 (maxNodeCount)"},
		{"bad timeout", `,"limits":{"timeout":"PT5Q"}`, "properties.limits.timeout", "ISO 8601"},
		{"bad distribution", `,"distribution":{"distributionType":"Ray"}`, "properties.distribution.distributionType", "PyTorch"},
		{"data asset input", `,"inputs":{"d":{"jobInputType":"uri_file","uri":"azureml:diabetes:1"}}`, "properties.inputs.d.uri", "data asset"},
		{"unknown datastore", `,"inputs":{"d":{"jobInputType":"uri_folder","uri":"azureml://datastores/nope/paths/x"}}`, "properties.inputs.d.uri", "datastore 'nope'"},
		{"wrong type", `,"tags":"x"`, "properties.tags", "must be an object"},
		{"unknown code", `,"codeId":"azureml:code1:1"`, "properties.codeId", "code1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := a.svc.PutJob(a.ctx, a.ref, "bad", jobBody(t, jobDoc(tc.props)))
			e, ok := core.AsError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, http.StatusBadRequest, e.Status, e.Message)
			require.Equal(t, tc.target, e.Target, e.Message)
			require.Contains(t, e.Message, tc.msg)
		})
	}
	jobs, err := a.st.List(a.ctx, store.ListOptions{Kind: core.KindJob})
	require.NoError(t, err)
	require.Empty(t, jobs, "nothing half-created")
}

// TestPutExistingJob: archive and restore (GET then PUT of the whole job,
// as the SDK does) work; changing what runs is refused.
func TestPutExistingJob(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	j, _, err := a.svc.PutJob(a.ctx, a.ref, "job1", jobBody(t, jobDoc(`,"tags":{"a":"1"}`)))
	require.NoError(t, err)
	// What a client sends back: the stored document with server fields.
	doc := resource.Decode(j.Spec)
	pr := doc["properties"].(map[string]any)
	pr["isArchived"] = true
	pr["status"] = "Running"
	pr["computeId"] = "azureml:c1"
	pr["tags"] = map[string]any{"b": "2"}
	pr["outputs"] = map[string]any{"default": map[string]any{"jobOutputType": "uri_folder"}}
	j2, created, err := a.svc.PutJob(a.ctx, a.ref, "job1", &service.Body{Doc: doc, Raw: resource.Encode(doc)})
	require.NoError(t, err)
	require.False(t, created)
	spec, _ := resource.JobSpecOf(j2)
	require.True(t, spec.IsArchived)
	require.Equal(t, map[string]any{"b": "2"}, spec.Tags)
	require.Equal(t, "python train.py", spec.Command)

	_, _, err = a.svc.PutJob(a.ctx, a.ref, "job1", jobBody(t, `{"properties":{"jobType":"Command","command":"python other.py","environmentId":"azureml:AzureML-sklearn-1.5@latest","computeId":"c1"}}`))
	e, ok := core.AsError(err)
	require.True(t, ok)
	require.Equal(t, http.StatusConflict, e.Status)
	require.Contains(t, e.Message, "command cannot change")

	// Listing: archived jobs only with ArchivedOnly or All.
	_, _, err = a.svc.PutJob(a.ctx, a.ref, "job2", jobBody(t, jobDoc(`,"experimentName":"exp2","tags":{"team":"x"}`)))
	require.NoError(t, err)
	names := func(f service.JobFilter) string {
		_, js, _, err := a.svc.ListJobs(a.ctx, a.ref, f)
		require.NoError(t, err)
		var out []string
		for _, j := range js {
			out = append(out, j.Name)
		}
		return strings.Join(out, ",")
	}
	require.Equal(t, "job2", names(service.JobFilter{View: service.ActiveOnly}))
	require.Equal(t, "job1", names(service.JobFilter{View: service.ArchivedOnly}))
	require.Equal(t, "job2,job1", names(service.JobFilter{View: service.AllViews}), "newest first")
	require.Equal(t, "job2", names(service.JobFilter{View: service.AllViews, Experiment: "exp2"}))
	require.Equal(t, "job2", names(service.JobFilter{View: service.AllViews, Tag: "team=x"}))
	require.Equal(t, "", names(service.JobFilter{View: service.AllViews, Tag: "team=y"}))
}

// TestListJobsSearch: JobFilter.Search (the API's mlwSearch) keeps jobs
// whose name or display name contains the text, in any case, over the
// whole history and before paging.
func TestListJobsSearch(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	for name, props := range map[string]string{
		"train_a1":   `,"displayName":"Train Diabetes"`,
		"train_b2":   `,"displayName":"sweep <fast> & dirty","tags":{"note":"diabetes"}`,
		"score_c3":   `,"displayName":"Score"`,
		"tagged_d4":  `,"displayName":"plain","description":"diabetes model"`,
		"unicode_e5": `,"displayName":"Ünïcode Straße"`,
	} {
		_, _, err := a.svc.PutJob(a.ctx, a.ref, name, jobBody(t, jobDoc(props)))
		require.NoError(t, err)
	}
	names := func(search string, top int) []string {
		_, js, _, err := a.svc.ListJobs(a.ctx, a.ref, service.JobFilter{View: service.ActiveOnly, Search: search, Page: service.Page{Top: top}})
		require.NoError(t, err)
		out := []string{}
		for _, j := range js {
			out = append(out, j.Name)
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct {
		search string
		want   []string
	}{
		{"TRAIN", []string{"train_a1", "train_b2"}}, // names, in any case
		{"diaBETES", []string{"train_a1"}},          // a display name; not tags or the description
		{"_c3", []string{"score_c3"}},               // part of a name
		{"  score ", []string{"score_c3"}},          // trimmed
		{"<fast> &", []string{"train_b2"}},          // characters a stored spec escapes
		{"straße", []string{"unicode_e5"}},          // not ASCII
		{"ÜNÏ", []string{"unicode_e5"}},             // not ASCII, in any case
		{"jobType", []string{}},                     // a key of the spec is no display name
		{"nothing like it", []string{}},
		{"", []string{"score_c3", "tagged_d4", "train_a1", "train_b2", "unicode_e5"}},
	} {
		require.Equal(t, c.want, names(c.search, 0), "search %q", c.search)
	}
	require.Len(t, names("a", 2), 2, "a page of the matches")
}

func TestListJobsPages(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	for i := range 5 {
		_, _, err := a.svc.PutJob(a.ctx, a.ref, fmt.Sprintf("j%d", i), jobBody(t, jobDoc("")))
		require.NoError(t, err)
	}
	var got []string
	page := service.Page{Top: 2}
	for {
		_, js, next, err := a.svc.ListJobs(a.ctx, a.ref, service.JobFilter{View: service.ActiveOnly, Page: page})
		require.NoError(t, err)
		for _, j := range js {
			got = append(got, j.Name)
		}
		if next == "" {
			break
		}
		if page.Skip == "" {
			// A job submitted while a client pages through the list
			// neither shifts the pages after it nor shows up in them.
			_, _, err := a.svc.PutJob(a.ctx, a.ref, "late", jobBody(t, jobDoc("")))
			require.NoError(t, err)
		}
		page.Skip = next
	}
	require.Equal(t, []string{"j4", "j3", "j2", "j1", "j0"}, got)

	// A filter the store cannot apply (a search) pages the same way.
	_, js, next, err := a.svc.ListJobs(a.ctx, a.ref, service.JobFilter{View: service.ActiveOnly, Search: "j", Page: service.Page{Top: 4}})
	require.NoError(t, err)
	require.Len(t, js, 4)
	_, js, _, err = a.svc.ListJobs(a.ctx, a.ref, service.JobFilter{View: service.ActiveOnly, Search: "j", Page: service.Page{Top: 4, Skip: next}})
	require.NoError(t, err)
	require.Equal(t, "j0", js[0].Name)

	// An offset token of mlw before keyset pages, or anything else, is refused plainly.
	for _, tok := range []string{"bzo0", "not base64!", base64.RawURLEncoding.EncodeToString([]byte("j3\x00/x\x00soon"))} {
		_, _, _, err := a.svc.ListJobs(a.ctx, a.ref, service.JobFilter{Page: service.Page{Skip: tok}})
		e, ok := core.AsError(err)
		require.True(t, ok, "token %q: %v", tok, err)
		require.Equal(t, "$skipToken", e.Target, "token %q", tok)
	}
}

// TestClusterUpdateKeepsWhatItLeavesOut: a PUT on a cluster that sends only
// maxNodeCount (and a default size) keeps the size, the idle time and the
// tier; a different size is ignored, not an error.
func TestClusterUpdateKeepsWhatItLeavesOut(t *testing.T) {
	t.Parallel()
	a := setupJobAdmission(t)
	_, _, _, err := a.svc.PutCompute(a.ctx, a.ref, "lab", jobBody(t, `{"tags":{"a":"1"},"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS11_V2","vmPriority":"LowPriority","scaleSettings":{"maxNodeCount":1,"minNodeCount":0,"nodeIdleTimeBeforeScaleDown":"PT300S"}}}}`))
	require.NoError(t, err)
	c, isNew, op, err := a.svc.PutCompute(a.ctx, a.ref, "lab", jobBody(t, `{"tags":{"b":"2"},"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS3_V2","scaleSettings":{"maxNodeCount":2,"minNodeCount":0,"nodeIdleTimeBeforeScaleDown":null}}}}`))
	require.NoError(t, err)
	require.False(t, isNew)
	require.NotNil(t, op)
	spec, err := resource.ComputeSpecOf(c)
	require.NoError(t, err)
	require.Equal(t, "Standard_DS11_v2", spec.Size.Name, "vmSize is fixed at creation")
	require.True(t, spec.Cluster.LowPriority, "vmPriority stays LowPriority")
	require.Equal(t, resource.ScaleSettings{Min: 0, Max: 2, IdleTime: 300 * time.Second}, spec.Cluster.Scale)
	require.Equal(t, map[string]any{"b": "2"}, spec.Doc["tags"], "a PUT replaces the tags")
}
