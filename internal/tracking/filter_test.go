package tracking

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		filter string
		want   []Clause
	}{
		{"", nil},
		{"metrics.acc > 0.9", []Clause{{Entity: EntMetric, Key: "acc", Op: OpGt, Num: 0.9}}},
		{"metrics.acc >= 1e-3", []Clause{{Entity: EntMetric, Key: "acc", Op: OpGe, Num: 0.001}}},
		{"metric.loss < -2", []Clause{{Entity: EntMetric, Key: "loss", Op: OpLt, Num: -2}}},
		{"metrics.loss <= 2 and metrics.loss != 1", []Clause{{Entity: EntMetric, Key: "loss", Op: OpLe, Num: 2}, {Entity: EntMetric, Key: "loss", Op: OpNe, Num: 1}}},
		{"metrics.`val loss` = 3", []Clause{{Entity: EntMetric, Key: "val loss", Op: OpEq, Num: 3}}},
		{"params.lr = '0.01'", []Clause{{Entity: EntParam, Key: "lr", Op: OpEq, Str: "0.01"}}},
		{`params.model != "svm"`, []Clause{{Entity: EntParam, Key: "model", Op: OpNe, Str: "svm"}}},
		{"params.model LIKE 'sv%'", []Clause{{Entity: EntParam, Key: "model", Op: OpLike, Str: "sv%"}}},
		{"tags.`mlflow.user` ILIKE '%ADMIN%'", []Clause{{Entity: EntTag, Key: "mlflow.user", Op: OpILike, Str: "%ADMIN%"}}},
		{`tags."mlflow.runName" = 'a'`, []Clause{{Entity: EntTag, Key: "mlflow.runName", Op: OpEq, Str: "a"}}},
		{"tags.team IN ('a', 'b')", []Clause{{Entity: EntTag, Key: "team", Op: OpIn, List: []string{"a", "b"}}}},
		{"attributes.run_id NOT IN ('x')", []Clause{{Entity: EntAttr, Key: "run_id", Op: OpNotIn, List: []string{"x"}}}},
		{"attributes.status = 'FINISHED'", []Clause{{Entity: EntAttr, Key: "status", Op: OpEq, Str: "FINISHED"}}},
		{"attribute.start_time > 1700000000000", []Clause{{Entity: EntAttr, Key: "start_time", Op: OpGt, Num: 1.7e12}}},
		{"attributes.created >= 5", []Clause{{Entity: EntAttr, Key: "start_time", Op: OpGe, Num: 5}}},
		{"attributes.run_name = 'it\\'s'", []Clause{{Entity: EntAttr, Key: "run_name", Op: OpEq, Str: "it's"}}},
		{"status = 'RUNNING'", []Clause{{Entity: EntAttr, Key: "status", Op: OpEq, Str: "RUNNING"}}},
	} {
		got, err := Runs.ParseFilter(tc.filter)
		require.NoError(t, err, tc.filter)
		require.Equal(t, tc.want, got, tc.filter)
	}
}

func TestParseFilterErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		g      Grammar
		filter string
		msg    string
	}{
		{Runs, "metrics.acc", "expected a comparison operator after 'metrics.acc'"},
		{Runs, "metrics.acc >", "expected a value after '>'"},
		{Runs, "metrics.acc > 'x'", "'x' is not a number"},
		{Runs, "metrics.acc LIKE '1'", "compares numbers: use =, !=, <, <=, > or >=, not LIKE"},
		{Runs, "params.lr > '1'", "is a string: use =, !=, LIKE, ILIKE, IN or NOT IN, not >"},
		{Runs, "params.lr = 1", "put the value in quotes"},
		{Runs, "params.lr = 'a' OR params.lr = 'b'", "expected AND between comparisons (OR is not supported)"},
		{Runs, "params.lr = 'a' AND", "a comparison must follow AND"},
		{Runs, "params.lr = 'a", "the string is not closed"},
		{Runs, "foo.bar = 'a'", "unknown entity \"foo\""},
		{Runs, "attributes.colour = 'a'", "unknown attribute \"colour\""},
		{Runs, "params.lr == 'a'", "unknown operator"},
		{Runs, "params.lr ~ 'a'", "unexpected character"},
		{Runs, "tags.t IN 'a'", "IN needs a list of strings in parentheses"},
		{Runs, "tags.t IN ('a' 'b')", "expected , or ) in the list"},
		{Runs, "tags.t IN ('a',", "the list"},
		{Runs, "tags.t IN (1)", "expected a quoted string in the list"},
		{Runs, "tags.t NOT LIKE 'a'", "expected a comparison operator"},
		{Runs, "> 1", "expected an identifier"},
		{Runs, "metrics.a > 1.2.3", "not a number"},
		{Runs, "attributes.start_time LIKE '1'", "compares numbers"},
		{Experiments, "metrics.acc > 1", "experiments cannot be filtered by metrics"},
		{Experiments, "attributes.status = 'x'", "unknown attribute \"status\""},
	} {
		_, err := tc.g.ParseFilter(tc.filter)
		require.Error(t, err, tc.filter)
		e, ok := core.AsError(err)
		require.True(t, ok, tc.filter)
		require.Equal(t, CodeInvalidParameter, e.Code, tc.filter)
		require.Equal(t, "filter", e.Target)
		require.Contains(t, e.Message, tc.msg, tc.filter)
	}
}

func TestParseOrderBy(t *testing.T) {
	t.Parallel()
	got, err := Runs.ParseOrderBy([]string{"metrics.acc DESC", "params.lr", "tags.`a b` asc", "attributes.start_time desc", "created"})
	require.NoError(t, err)
	require.Equal(t, []Order{{EntMetric, "acc", false}, {EntParam, "lr", true}, {EntTag, "a b", true}, {EntAttr, "start_time", false}, {EntAttr, "start_time", true}}, got)
	got, err = Experiments.ParseOrderBy([]string{"name", "last_update_time DESC"})
	require.NoError(t, err)
	require.Equal(t, []Order{{EntAttr, "name", true}, {EntAttr, "last_update_time", false}}, got)
	for _, bad := range []string{"", "metrics.acc UP", "metrics.acc DESC x", "colour"} {
		_, err := Runs.ParseOrderBy([]string{bad})
		e, ok := core.AsError(err)
		require.True(t, ok, bad)
		require.Equal(t, "order_by", e.Target, bad)
		require.Equal(t, CodeInvalidParameter, e.Code, bad)
	}
}
