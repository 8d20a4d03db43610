package resource_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/resource"
)

func TestJobMovesCoverEveryState(t *testing.T) {
	states := []string{resource.JobNotStarted, resource.JobQueued, resource.JobPreparing, resource.JobRunning, resource.JobFinalizing,
		resource.JobCompleted, resource.JobFailed, resource.JobCanceled, resource.JobCancelRequested, resource.JobDeleting}
	for _, s := range states {
		moves, ok := resource.JobMoves[s]
		require.True(t, ok, "JobMoves says where %s goes", s)
		for _, m := range moves {
			require.Contains(t, states, m.To, "%s -> %s", s, m.To)
			require.NotEmpty(t, m.By, "who moves %s -> %s", s, m.To)
		}
		if resource.JobTerminal(s) {
			require.Equal(t, []resource.Move{{To: resource.JobDeleting, By: "admission (delete)"}}, moves, "a finished job only goes away")
		}
	}
	require.False(t, resource.JobMoveAllowed(resource.JobCompleted, resource.JobRunning))
	require.True(t, resource.JobMoveAllowed(resource.JobQueued, resource.JobPreparing))
}

func TestSetConditionMovesTransitionTimeOnlyOnChange(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	conds := resource.SetCondition(nil, resource.Condition{Type: "NodesFit", Status: resource.ConditionTrue}, t0)
	conds = resource.SetCondition(conds, resource.Condition{Type: "NodesFit", Status: resource.ConditionTrue, Message: "again"}, t0.Add(time.Minute))
	require.Len(t, conds, 1)
	require.Equal(t, t0, conds[0].LastTransitionTime, "same status: the transition stays")
	require.Equal(t, "again", conds[0].Message)
	conds = resource.SetCondition(conds, resource.Condition{Type: "NodesFit", Status: resource.ConditionFalse, Reason: "HostCapacityExceeded"}, t0.Add(2*time.Minute))
	require.Equal(t, t0.Add(2*time.Minute), resource.FindCondition(conds, "NodesFit").LastTransitionTime)
	require.Nil(t, resource.FindCondition(conds, "Other"))
}
