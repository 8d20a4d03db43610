package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mlw-project/mlw/internal/core"
)

func props(list ...map[string]any) map[string]any {
	l := make([]any, len(list))
	for i, m := range list {
		l[i] = m
	}
	return map[string]any{"schedules": map[string]any{"computeStartStop": l}}
}

func cronStop(expr, tz string) map[string]any {
	return map[string]any{"status": "Enabled", "action": "Stop", "triggerType": "Cron",
		"cron": map[string]any{"expression": expr, "timeZone": tz}}
}

func TestParseErrorsNameScheduleAndField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		p      map[string]any
		target string
		msg    string
	}{
		{"bad cron", props(cronStop("0 18 * *", "UTC")), "properties.properties.schedules.computeStartStop[0].cron.expression", "5 fields"},
		{"cron garbage", props(cronStop("x y z a b", "UTC")), "properties.properties.schedules.computeStartStop[0].cron.expression", "not valid"},
		{"unknown zone", props(cronStop("0 18 * * *", "UTC"), cronStop("0 18 * * *", "Mars Standard Time")),
			"properties.properties.schedules.computeStartStop[1].cron.timeZone", "Schedule 2"},
		{"bad action", props(map[string]any{"action": "Pause", "triggerType": "Cron", "cron": map[string]any{"expression": "0 1 * * *"}}),
			"properties.properties.schedules.computeStartStop[0].action", "Start or Stop"},
		{"bad weekday", props(map[string]any{"action": "Start", "triggerType": "Recurrence", "recurrence": map[string]any{"frequency": "Week", "interval": 1,
			"schedule": map[string]any{"hours": []any{8}, "minutes": []any{0}, "weekDays": []any{"Funday"}}}}),
			"properties.properties.schedules.computeStartStop[0].recurrence.schedule.weekDays", "Funday"},
		{"too many", props(cronStop("0 1 * * *", ""), cronStop("0 2 * * *", ""), cronStop("0 3 * * *", ""), cronStop("0 4 * * *", ""), cronStop("0 5 * * *", "")),
			"properties.properties.schedules.computeStartStop", "at most 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.p)
			e, ok := core.AsError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, 400, e.Status)
			require.Equal(t, tc.target, e.Target)
			require.Contains(t, e.Message, tc.msg)
		})
	}
}

func TestWindowsAndIANAZones(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Pacific Standard Time", "pacific standard time", "America/Los_Angeles"} {
		loc, err := LoadLocation(name)
		require.NoError(t, err, name)
		require.Equal(t, "America/Los_Angeles", loc.String())
	}
	loc, err := LoadLocation("")
	require.NoError(t, err)
	require.Equal(t, time.UTC, loc)
	_, err = LoadLocation("Nowhere/Atlantis")
	require.Error(t, err)
}

func TestCronFiresInItsTimeZone(t *testing.T) {
	t.Parallel()
	s, err := Parse(props(cronStop("0 18 * * *", "Pacific Standard Time")))
	require.NoError(t, err)
	// 2026-07-01 is summer time: 18:00 PDT is 01:00 UTC the next day.
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	require.Equal(t, time.Date(2026, 7, 2, 1, 0, 0, 0, time.UTC), s[0].Next(now))
	at, ok := s[0].Latest(now, now.Add(48*time.Hour))
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 7, 3, 1, 0, 0, 0, time.UTC), at)
}

func TestRecurrence(t *testing.T) {
	t.Parallel()
	p := props(map[string]any{"action": "Start", "triggerType": "Recurrence", "recurrence": map[string]any{
		"frequency": "Week", "interval": 2, "timeZone": "UTC", "startTime": "2026-01-05T00:00:00",
		"schedule": map[string]any{"hours": []any{8}, "minutes": []any{30}, "weekDays": []any{"Monday"}}}})
	s, err := Parse(p)
	require.NoError(t, err)
	n := s[0].Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, time.Date(2026, 1, 5, 8, 30, 0, 0, time.UTC), n)
	// Every second week: not the 12th, the 19th.
	require.Equal(t, time.Date(2026, 1, 19, 8, 30, 0, 0, time.UTC), s[0].Next(n))

	p = props(map[string]any{"action": "Stop", "triggerType": "Recurrence", "recurrence": map[string]any{"frequency": "Minute", "interval": 15}})
	s, err = Parse(p)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC), s[0].Next(time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)))
}

func TestDuePicksTheLatestFiring(t *testing.T) {
	t.Parallel()
	start := map[string]any{"action": "Start", "triggerType": "Cron", "cron": map[string]any{"expression": "0 8 * * *"}}
	s, err := Parse(props(cronStop("0 18 * * *", "UTC"), start))
	require.NoError(t, err)
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// Down from 07:00 to 19:00: the 08:00 start and the 18:00 stop were
	// missed; the stop is the latest, so it decides.
	got, at, ok := Due(s, day.Add(7*time.Hour), day.Add(19*time.Hour))
	require.True(t, ok)
	require.Equal(t, ActionStop, got.Action)
	require.Equal(t, day.Add(18*time.Hour), at)
	// Down from 17:00 to 09:00 the next day: the start at 08:00 decides.
	got, _, ok = Due(s, day.Add(17*time.Hour), day.Add(33*time.Hour))
	require.True(t, ok)
	require.Equal(t, ActionStart, got.Action)
	_, next, ok := NextAny(s, day.Add(9*time.Hour))
	require.True(t, ok)
	require.Equal(t, day.Add(18*time.Hour), next)
	// Disabled schedules never fire.
	s[0].Enabled, s[1].Enabled = false, false
	_, _, ok = Due(s, day, day.Add(48*time.Hour))
	require.False(t, ok)
}
