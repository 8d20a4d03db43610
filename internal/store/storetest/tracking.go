package storetest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

const ws1, ws2 = "ws-uid-1", "ws-uid-2"

func mkExperiment(t *testing.T, b *testBundle, ws, name string) *tracking.Experiment {
	t.Helper()
	e := &tracking.Experiment{Workspace: ws, Name: name, LifecycleStage: tracking.Active, CreationTime: 1, LastUpdateTime: 1}
	require.NoError(t, b.s.CreateExperiment(b.ctx, e))
	return e
}

func mkRun(t *testing.T, b *testBundle, ws, exp, id string, start int64) {
	t.Helper()
	require.NoError(t, b.s.CreateRun(b.ctx, &tracking.Run{Info: tracking.RunInfo{Workspace: ws, RunID: id, ExperimentID: exp, RunName: id,
		Status: tracking.Running, StartTime: start, LifecycleStage: tracking.Active}, Tags: []tracking.KV{{Key: "mlflow.runName", Value: id}}}))
}

func runTracking(t *testing.T, setup setupFunc) {
	t.Run("TrackingConcurrentBatches", func(t *testing.T) { testTrackingConcurrentBatches(t, setup) })
	t.Run("TrackingExperiments", func(t *testing.T) { testTrackingExperiments(t, setup) })
	t.Run("TrackingRunsAndData", func(t *testing.T) { testTrackingRunsAndData(t, setup) })
	t.Run("TrackingMetricHistoryCompacts", func(t *testing.T) { testTrackingMetricHistoryCompacts(t, setup) })
	t.Run("TrackingSearchRuns", func(t *testing.T) { testTrackingSearchRuns(t, setup) })
	t.Run("TrackingDeleteWorkspace", func(t *testing.T) { testTrackingDeleteWorkspace(t, setup) })
}

// testTrackingDeleteWorkspace: deleting a workspace's tracking removes
// its experiments, runs, their data and its models, and nothing of
// another workspace.
func testTrackingDeleteWorkspace(t *testing.T, setup setupFunc) {
	b := setup(t)
	for _, ws := range []string{ws1, ws2} {
		e := mkExperiment(t, b, ws, "lab")
		mkRun(t, b, ws, e.ID, "r1", 100)
		require.NoError(t, b.s.LogBatch(b.ctx, ws, "r1", tracking.Batch{Params: []tracking.KV{{Key: "lr", Value: "0.1"}},
			Tags: []tracking.KV{{Key: "team", Value: "a"}}, Metrics: []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: 10}}}))
		require.NoError(t, b.s.CreateRegisteredModel(b.ctx, &tracking.RegisteredModel{Workspace: ws, Name: "m", CreationTime: 1, LastUpdatedTime: 1}))
		require.NoError(t, b.s.CreateModelVersion(b.ctx, &tracking.ModelVersion{Workspace: ws, Name: "m", CreationTime: 1, LastUpdatedTime: 1}))
	}
	n, err := b.s.DeleteWorkspaceTracking(b.ctx, ws1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.s.GetRun(b.ctx, ws1, "r1")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.s.GetExperimentByName(b.ctx, ws1, "lab")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.s.GetRegisteredModel(b.ctx, ws1, "m")
	require.ErrorIs(t, err, store.ErrNotFound)
	vs, err := b.s.ListModelVersions(b.ctx, ws1, "")
	require.NoError(t, err)
	require.Empty(t, vs)
	h, err := b.s.MetricHistory(b.ctx, ws1, "r1", "acc", 0, 0)
	if err == nil {
		require.Empty(t, h, "no metric points left")
	}
	// The other workspace keeps everything.
	r, err := b.s.GetRun(b.ctx, ws2, "r1")
	require.NoError(t, err)
	require.Len(t, r.Params, 1)
	require.Len(t, r.Metrics, 1)
	_, err = b.s.GetRegisteredModel(b.ctx, ws2, "m")
	require.NoError(t, err)
	// A workspace made again starts empty: run ids are free again.
	e := mkExperiment(t, b, ws1, "lab")
	mkRun(t, b, ws1, e.ID, "r1", 200)
	r, err = b.s.GetRun(b.ctx, ws1, "r1")
	require.NoError(t, err)
	require.Empty(t, r.Params)
	require.Empty(t, r.Metrics)
}

func testTrackingExperiments(t *testing.T, setup setupFunc) {
	b := setup(t)
	require.NoError(t, b.s.CreateExperiment(b.ctx, &tracking.Experiment{Workspace: ws1, ID: "0", Name: "Default", LifecycleStage: tracking.Active}))
	e := mkExperiment(t, b, ws1, "lab")
	require.Equal(t, "1", e.ID)
	require.Equal(t, "2", mkExperiment(t, b, ws1, "Lab").ID, "names are case-sensitive")
	require.Equal(t, "1", mkExperiment(t, b, ws2, "lab").ID, "ids are per workspace")
	err := b.s.CreateExperiment(b.ctx, &tracking.Experiment{Workspace: ws1, Name: "lab", LifecycleStage: tracking.Active})
	require.ErrorIs(t, err, store.ErrExists)
	require.NoError(t, b.s.SetExperimentTag(b.ctx, ws1, "1", tracking.KV{Key: "team", Value: "a"}, 5))
	got, err := b.s.GetExperimentByName(b.ctx, ws1, "lab")
	require.NoError(t, err)
	require.Equal(t, []tracking.KV{{Key: "team", Value: "a"}}, got.Tags)
	require.Equal(t, int64(5), got.LastUpdateTime)
	require.NoError(t, b.s.UpdateExperiment(b.ctx, ws1, "1", "lab2", "", 6))
	require.ErrorIs(t, b.s.UpdateExperiment(b.ctx, ws1, "1", "Lab", "", 6), store.ErrExists)
	require.NoError(t, b.s.UpdateExperiment(b.ctx, ws1, "2", "", tracking.Deleted, 7))
	_, err = b.s.GetExperiment(b.ctx, ws1, "9")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.s.GetExperiment(b.ctx, ws2, "2")
	require.ErrorIs(t, err, store.ErrNotFound)

	search := func(filter string, view string, order ...string) []string {
		cl, err := tracking.Experiments.ParseFilter(filter)
		require.NoError(t, err)
		ob, err := tracking.Experiments.ParseOrderBy(order)
		require.NoError(t, err)
		es, err := b.s.SearchExperiments(b.ctx, tracking.ExperimentQuery{Workspace: ws1, Filter: cl, OrderBy: ob, ViewType: view, Limit: 10})
		require.NoError(t, err)
		var names []string
		for _, e := range es {
			names = append(names, e.Name)
		}
		return names
	}
	require.Equal(t, []string{"Default", "lab2"}, search("", tracking.ActiveOnly, "name"))
	require.Equal(t, []string{"Lab"}, search("", tracking.DeletedOnly))
	require.Equal(t, []string{"lab2"}, search("name LIKE 'lab%'", tracking.AllViews))
	require.Equal(t, []string{"Lab", "lab2"}, search("name ILIKE 'LAB%'", tracking.AllViews, "name"))
	require.Equal(t, []string{"lab2"}, search("tags.team = 'a'", tracking.AllViews))
	require.Equal(t, []string{"Default"}, search("attributes.experiment_id = '0'", tracking.AllViews))
	require.Equal(t, []string{"lab2", "Default"}, search("", tracking.ActiveOnly, "last_update_time DESC"))
}

func testTrackingRunsAndData(t *testing.T, setup setupFunc) {
	b := setup(t)
	e := mkExperiment(t, b, ws1, "lab")
	mkRun(t, b, ws1, e.ID, "r1", 100)
	err := b.s.CreateRun(b.ctx, &tracking.Run{Info: tracking.RunInfo{Workspace: ws1, RunID: "r1", ExperimentID: e.ID, LifecycleStage: tracking.Active}})
	require.ErrorIs(t, err, store.ErrExists)
	require.NoError(t, b.s.LogBatch(b.ctx, ws1, "r1", tracking.Batch{
		Params:  []tracking.KV{{Key: "lr", Value: "0.1"}},
		Tags:    []tracking.KV{{Key: "team", Value: "a"}, {Key: "mlflow.runName", Value: "renamed"}},
		Metrics: []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: 10, Step: 0}, {Key: "acc", Value: 0.7, Timestamp: 11, Step: 1}, {Key: "acc", Value: 0.6, Timestamp: 12, Step: 1}, {Key: "loss", Value: math.NaN(), Timestamp: 1}},
	}))
	// Same param, same value: fine; another value: refused.
	require.NoError(t, b.s.LogBatch(b.ctx, ws1, "r1", tracking.Batch{Params: []tracking.KV{{Key: "lr", Value: "0.1"}}}))
	var pc *tracking.ParamChangedError
	require.True(t, errors.As(b.s.LogBatch(b.ctx, ws1, "r1", tracking.Batch{Params: []tracking.KV{{Key: "lr", Value: "0.2"}}}), &pc))
	// A point logged twice is stored once.
	require.NoError(t, b.s.LogBatch(b.ctx, ws1, "r1", tracking.Batch{Metrics: []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: 10, Step: 0}}}))

	r, err := b.s.GetRun(b.ctx, ws1, "r1")
	require.NoError(t, err)
	require.Equal(t, "renamed", r.Info.RunName)
	require.Equal(t, []tracking.KV{{Key: "lr", Value: "0.1"}}, r.Params)
	require.Equal(t, []tracking.KV{{Key: "mlflow.runName", Value: "renamed"}, {Key: "team", Value: "a"}}, r.Tags)
	require.Len(t, r.Metrics, 2)
	require.Equal(t, tracking.Metric{Key: "acc", Value: 0.6, Timestamp: 12, Step: 1}, r.Metrics[0], "highest step, then time")
	require.True(t, math.IsNaN(r.Metrics[1].Value))

	h, err := b.s.MetricHistory(b.ctx, ws1, "r1", "acc", 0, 0)
	require.NoError(t, err)
	require.Equal(t, []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: 10}, {Key: "acc", Value: 0.7, Timestamp: 11, Step: 1}, {Key: "acc", Value: 0.6, Timestamp: 12, Step: 1}}, h)
	h, err = b.s.MetricHistory(b.ctx, ws1, "r1", "acc", 1, 1)
	require.NoError(t, err)
	require.Equal(t, []tracking.Metric{{Key: "acc", Value: 0.7, Timestamp: 11, Step: 1}}, h)
	hi, err := b.s.MetricHistoryInterval(b.ctx, ws1, []string{"r1"}, "acc", 1, 5, 10)
	require.NoError(t, err)
	require.Len(t, hi, 2)
	require.Equal(t, "r1", hi[0].RunID)

	require.NoError(t, b.s.DeleteRunTag(b.ctx, ws1, "r1", "team"))
	require.ErrorIs(t, b.s.DeleteRunTag(b.ctx, ws1, "r1", "team"), store.ErrNotFound)
	require.NoError(t, b.s.LogInputs(b.ctx, ws1, "r1", []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "d", Digest: "x"}}}))
	require.NoError(t, b.s.LogInputs(b.ctx, ws1, "r1", []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "d", Digest: "x", Source: "s"}}}))

	end := int64(200)
	info, err := b.s.UpdateRun(b.ctx, ws1, "r1", tracking.RunUpdate{Status: tracking.Finished, EndTime: &end, LifecycleStage: tracking.Deleted})
	require.NoError(t, err)
	require.Equal(t, tracking.Finished, info.Status)
	require.ErrorIs(t, b.s.LogBatch(b.ctx, ws1, "r1", tracking.Batch{Tags: []tracking.KV{{Key: "a", Value: "b"}}}), tracking.ErrNotActive)
	r, err = b.s.GetRun(b.ctx, ws1, "r1")
	require.NoError(t, err)
	require.Equal(t, int64(200), r.Info.EndTime)
	require.Len(t, r.Inputs, 1)
	require.Equal(t, "s", r.Inputs[0].Dataset.Source)
	_, err = b.s.GetRun(b.ctx, ws2, "r1")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testTrackingMetricHistoryCompacts(t *testing.T, setup setupFunc) {
	b := setup(t)
	e := mkExperiment(t, b, ws1, "lab")
	mkRun(t, b, ws1, e.ID, "r1", 1)
	// Points one at a time, in reverse order, some twice, with NaN
	// and infinities: history is sorted, each point once.
	const n = 300
	for i := n - 1; i >= 0; i-- {
		v := float64(i)
		switch i {
		case 7:
			v = math.NaN()
		case 8:
			v = math.Inf(1)
		case 9:
			v = math.Inf(-1)
		}
		ms := []tracking.Metric{{Key: "loss", Value: v, Timestamp: int64(1000 + i), Step: int64(i)}}
		if i%50 == 0 {
			ms = append(ms, ms[0])
		}
		require.NoError(t, b.s.LogBatch(b.ctx, ws1, "r1", tracking.Batch{Metrics: ms}))
	}
	h, err := b.s.MetricHistory(b.ctx, ws1, "r1", "loss", 0, 0)
	require.NoError(t, err)
	require.Len(t, h, n)
	for i, m := range h {
		require.Equal(t, int64(i), m.Step)
		require.Equal(t, int64(1000+i), m.Timestamp)
		switch i {
		case 7:
			require.True(t, math.IsNaN(m.Value))
		case 8:
			require.True(t, math.IsInf(m.Value, 1))
		case 9:
			require.True(t, math.IsInf(m.Value, -1))
		default:
			require.Equal(t, float64(i), m.Value)
		}
	}
	h, err = b.s.MetricHistory(b.ctx, ws1, "r1", "loss", 295, 10)
	require.NoError(t, err)
	require.Len(t, h, 5)
	hi, err := b.s.MetricHistoryInterval(b.ctx, ws1, []string{"r1"}, "loss", 100, 199, 30)
	require.NoError(t, err)
	require.Len(t, hi, 30)
	require.Equal(t, int64(100), hi[0].Step)
	require.Equal(t, int64(199), hi[29].Step, "sampled over the whole interval")
	r, err := b.s.GetRun(b.ctx, ws1, "r1")
	require.NoError(t, err)
	require.Equal(t, float64(n-1), r.Metrics[0].Value)
}

func testTrackingSearchRuns(t *testing.T, setup setupFunc) {
	b := setup(t)
	e := mkExperiment(t, b, ws1, "lab")
	other := mkExperiment(t, b, ws1, "other")
	for i := range 6 {
		id := fmt.Sprintf("r%d", i)
		mkRun(t, b, ws1, e.ID, id, int64(100+i))
		batch := tracking.Batch{Params: []tracking.KV{{Key: "model", Value: []string{"svm", "SVC", "tree"}[i%3]}},
			Tags: []tracking.KV{{Key: "team", Value: []string{"a", "b"}[i%2]}}}
		if i != 5 {
			batch.Metrics = []tracking.Metric{{Key: "acc", Value: float64(i) / 10, Timestamp: 1}}
		}
		require.NoError(t, b.s.LogBatch(b.ctx, ws1, id, batch))
	}
	mkRun(t, b, ws1, other.ID, "x", 1)
	end := int64(1)
	_, err := b.s.UpdateRun(b.ctx, ws1, "r4", tracking.RunUpdate{Status: tracking.Finished, EndTime: &end})
	require.NoError(t, err)

	search := func(filter string, order ...string) []string {
		cl, err := tracking.Runs.ParseFilter(filter)
		require.NoError(t, err, filter)
		ob, err := tracking.Runs.ParseOrderBy(order)
		require.NoError(t, err)
		rs, err := b.s.SearchRuns(b.ctx, tracking.RunQuery{Workspace: ws1, ExperimentIDs: []string{e.ID}, Filter: cl, OrderBy: ob, Limit: 100})
		require.NoError(t, err, filter)
		ids := []string{}
		for _, r := range rs {
			ids = append(ids, r.Info.RunID)
		}
		return ids
	}
	for _, tc := range []struct {
		filter string
		order  []string
		want   []string
	}{
		{"", nil, []string{"r5", "r4", "r3", "r2", "r1", "r0"}},
		{"metrics.acc > 0.25", nil, []string{"r4", "r3"}},
		{"metrics.acc >= 0.3", nil, []string{"r4", "r3"}},
		{"metrics.acc < 0.1", nil, []string{"r0"}},
		{"metrics.acc <= 0.1", nil, []string{"r1", "r0"}},
		{"metrics.acc = 0.2", nil, []string{"r2"}},
		{"metrics.acc != 0.2", nil, []string{"r4", "r3", "r1", "r0"}},
		{"params.model = 'svm'", nil, []string{"r3", "r0"}},
		{"params.model != 'svm'", nil, []string{"r5", "r4", "r2", "r1"}},
		{"params.model LIKE 's%'", nil, []string{"r3", "r0"}},
		{"params.model ILIKE 's%'", nil, []string{"r4", "r3", "r1", "r0"}},
		{"params.model IN ('tree', 'SVC')", nil, []string{"r5", "r4", "r2", "r1"}},
		{"params.model NOT IN ('tree', 'SVC')", nil, []string{"r3", "r0"}},
		{"tags.team = 'a' AND metrics.acc > 0", nil, []string{"r4", "r2"}},
		{"attributes.status = 'FINISHED'", nil, []string{"r4"}},
		{"attributes.status != 'FINISHED'", nil, []string{"r5", "r3", "r2", "r1", "r0"}},
		{"attributes.run_id IN ('r1', 'r2')", nil, []string{"r2", "r1"}},
		{"attributes.run_name LIKE 'r_'", []string{"attributes.run_name"}, []string{"r0", "r1", "r2", "r3", "r4", "r5"}},
		{"attributes.start_time > 103", nil, []string{"r5", "r4"}},
		{"attributes.end_time = 1", nil, []string{"r4"}},
		{"", []string{"metrics.acc DESC"}, []string{"r4", "r3", "r2", "r1", "r0", "r5"}},
		{"", []string{"metrics.acc"}, []string{"r0", "r1", "r2", "r3", "r4", "r5"}},
		{"", []string{"params.model", "attributes.start_time"}, []string{"r1", "r4", "r0", "r3", "r2", "r5"}},
		{"", []string{"tags.team DESC"}, []string{"r5", "r3", "r1", "r4", "r2", "r0"}},
	} {
		require.Equal(t, tc.want, search(tc.filter, tc.order...), "%s %v", tc.filter, tc.order)
	}
	// Paging: Limit+1 says another page follows; Offset continues.
	rs, err := b.s.SearchRuns(b.ctx, tracking.RunQuery{Workspace: ws1, ExperimentIDs: []string{e.ID, other.ID}, Limit: 2, Offset: 6})
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Equal(t, "x", rs[0].Info.RunID)
	require.Equal(t, "0.4", fmt.Sprint(searchOne(t, b, e.ID, "r4").Metrics[0].Value))
}

func searchOne(t *testing.T, b *testBundle, exp, id string) *tracking.Run {
	t.Helper()
	rs, err := b.s.SearchRuns(b.ctx, tracking.RunQuery{Workspace: ws1, ExperimentIDs: []string{exp},
		Filter: []tracking.Clause{{Entity: tracking.EntAttr, Key: "run_id", Op: tracking.OpEq, Str: id}}, Limit: 10})
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Len(t, rs[0].Params, 1)
	require.Len(t, rs[0].Tags, 2)
	return rs[0]
}

// testTrackingConcurrentBatches: log-batch calls from many clients at once
// (written together by a group commit where the store does that) all land,
// and one that fails takes nothing else with it.
func testTrackingConcurrentBatches(t *testing.T, setup setupFunc) {
	b := setup(t)
	e := mkExperiment(t, b, ws1, "lab")
	const clients, batches = 12, 15
	for c := range clients {
		mkRun(t, b, ws1, e.ID, fmt.Sprintf("r%d", c), 1)
		require.NoError(t, b.s.LogBatch(b.ctx, ws1, fmt.Sprintf("r%d", c), tracking.Batch{Params: []tracking.KV{{Key: "p", Value: "1"}}}))
	}
	errs := make(chan error, clients*batches)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := fmt.Sprintf("r%d", c)
			for i := range batches {
				batch := tracking.Batch{Metrics: []tracking.Metric{{Key: "m", Value: float64(i), Timestamp: 1, Step: int64(i)}},
					Tags: []tracking.KV{{Key: fmt.Sprintf("t%d", i), Value: "x"}}}
				if i == 7 {
					// This batch changes a param: refused, and its
					// metric and tag with it.
					batch.Params = []tracking.KV{{Key: "p", Value: "2"}}
				}
				errs <- b.s.LogBatch(b.ctx, ws1, run, batch)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			var pc *tracking.ParamChangedError
			require.True(t, errors.As(err, &pc), "%v", err)
			failed++
		}
	}
	require.Equal(t, clients, failed)
	for c := range clients {
		run := fmt.Sprintf("r%d", c)
		h, err := b.s.MetricHistory(b.ctx, ws1, run, "m", 0, 0)
		require.NoError(t, err)
		require.Len(t, h, batches-1, run)
		r, err := b.s.GetRun(b.ctx, ws1, run)
		require.NoError(t, err)
		require.Len(t, r.Tags, 1+batches-1, "mlflow.runName and every tag but the refused batch's")
		require.Equal(t, float64(batches-1), r.Metrics[0].Value)
	}
}
