package schedule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mlw-project/mlw/internal/core"
)

// FuzzParseCron: an expression is either refused with a message that
// shows the 5-field form, or its next firing after any moment is strictly
// later (or none).
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 18 * * *", "*/5 * * * *", "0 8 * * 1-5", "30 6 1,15 * *", "0 0 29 2 *", "0 0 31 4 *", "0 0 30 2 *",
		"59 23 31 12 6", "0-59/0 * * * *", "*/100 * * * *", "0 */25 * * *", "@daily", "@every 1h x y z", "0 18 * * MON-FRI", "0 18 ? * *",
		"0 18 L * *", "60 24 32 13 8", "1-0 * * * *", "* * * * * *", "", "x y z a b", "0 0 1 1 0-7", "5-5/5 * * * *"} {
		f.Add(s, int64(1772442000))
	}
	f.Fuzz(func(t *testing.T, expr string, at int64) {
		s, err := ParseCron(expr)
		if err != nil {
			if !strings.Contains(err.Error(), "5 fields") {
				t.Fatalf("ParseCron(%q): the error does not show the form: %v", expr, err)
			}
			return
		}
		from := time.Unix(at%(1<<40), 0).UTC()
		if n := s.Next(from); !n.IsZero() && !n.After(from) {
			t.Fatalf("ParseCron(%q).Next(%v) = %v, not after", expr, from, n)
		}
	})
}

// FuzzSchedules: the computeStartStop schedules of an instance's
// properties are either refused with a 400 that names the field, or give
// schedules that never fire before their start time, fire strictly after
// the moment asked, and whose latest firing in a window is inside it.
func FuzzSchedules(f *testing.F) {
	for _, s := range []string{
		`[{"action":"Stop","triggerType":"Cron","cron":{"expression":"0 18 * * *","timeZone":"UTC"}}]`,
		`[{"action":"Start","cron":{"expression":"0 8 * * 1-5","timeZone":"W. Europe Standard Time","startTime":"2026-03-02T08:00:00"}}]`,
		`[{"action":"Stop","cron":{"expression":"0 0 * * *","startTime":"2026-03-02T00:00:00.5Z"}}]`,
		`[{"action":"Start","triggerType":"Recurrence","recurrence":{"frequency":"Week","interval":2,"timeZone":"Pacific Standard Time","startTime":"2026-01-05T07:00:00","schedule":{"hours":[7],"minutes":[30],"weekDays":["Monday","Friday"]}}}]`,
		`[{"action":"Stop","recurrence":{"frequency":"Minute","interval":90}}]`,
		`[{"action":"Stop","recurrence":{"frequency":"Hour","interval":5,"schedule":{"minutes":[15]}}}]`,
		`[{"action":"Stop","recurrence":{"frequency":"Month","interval":3,"schedule":{"hours":[1],"minutes":[2],"monthDays":[31]}}}]`,
		`[{"action":"Stop","recurrence":{"frequency":"Day","interval":0}}]`,
		`[{"action":"Stop","status":"Disabled","cron":{"expression":"0 18 * * *"}}]`,
		`[{"action":"Pause"}]`, `{}`, `"x"`, `null`, `[null]`, `[{"action":"Stop","cron":null,"recurrence":{}}]`,
		`[{"action":"Stop","cron":{"expression":"0 18 * * *","timeZone":"../../etc/passwd"}}]`,
		`[{"action":"Stop","cron":{"expression":"0 18 * * *","startTime":"9999-12-31T23:59:59Z"}}]`,
	} {
		f.Add(s, int64(1772442000), int64(3*24*3600))
	}
	// Asked before a start time with a fraction of a second.
	f.Add(`[{"action":"Stop","cron":{"expression":"0 0 * * *","startTime":"2026-03-02T00:00:00.5Z"}}]`, int64(1772366400), int64(24*3600))
	f.Fuzz(func(t *testing.T, list string, at, window int64) {
		var v any
		if json.Unmarshal([]byte(list), &v) != nil {
			return
		}
		scheds, err := Parse(map[string]any{"schedules": map[string]any{"computeStartStop": v}})
		if err != nil {
			e, ok := core.AsError(err)
			if !ok || e.Status != 400 || !strings.HasPrefix(e.Target, "properties.properties.schedules") || e.Message == "" {
				t.Fatalf("Parse(%s): not a 400 naming the field: %#v", list, err)
			}
			return
		}
		from := time.Unix(at%(1<<36), 0).UTC()
		to := from.Add(time.Duration(window%(40*24*3600)) * time.Second)
		for _, s := range scheds {
			n := s.Next(from)
			if n.IsZero() {
				continue
			}
			if !n.After(from) {
				t.Fatalf("%s: Next(%v) = %v, not after", s.Expr, from, n)
			}
			if !s.Start.IsZero() && n.Before(s.Start) {
				t.Fatalf("%s: Next(%v) = %v, before its start time %v", s.Expr, from, n, s.Start)
			}
			if last, ok := s.Latest(from, to); ok && (!last.After(from) || last.After(to)) {
				t.Fatalf("%s: Latest(%v, %v) = %v, outside the window", s.Expr, from, to, last)
			}
		}
	})
}
