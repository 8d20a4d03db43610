// Package schedule evaluates the start/stop schedules of compute instances
// (properties.properties.schedules.computeStartStop): 5-field cron
// expressions and recurrences, in IANA or Windows time zones. Everything
// here is a pure function of its arguments, including the current time,
// so that callers (the instance reconciler) decide in virtual time.
package schedule

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones even on hosts without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/mlw-project/mlw/internal/core"
)

// Max is the most schedules an instance may have, as in Azure.
const Max = 4

// Actions a schedule takes.
const (
	ActionStart = "Start"
	ActionStop  = "Stop"
)

// Schedule is one parsed, validated computeStartStop entry.
type Schedule struct {
	// Index is the position in the list (0-based), for messages and ids.
	Index   int
	Action  string
	Enabled bool
	// Trigger is "Cron" or "Recurrence".
	Trigger string
	// Expr describes the trigger for people ("0 18 * * *").
	Expr     string
	Location *time.Location
	// Start, when not zero, is the first moment the schedule may fire.
	Start time.Time
	sched cron.Schedule
}

// entry is the wire shape of a ComputeStartStopSchedule.
type entry struct {
	Status      string `json:"status"`
	Action      string `json:"action"`
	TriggerType string `json:"triggerType"`
	Cron        *struct {
		Expression string `json:"expression"`
		StartTime  string `json:"startTime"`
		TimeZone   string `json:"timeZone"`
	} `json:"cron"`
	Recurrence *struct {
		Frequency string `json:"frequency"`
		Interval  *int   `json:"interval"`
		StartTime string `json:"startTime"`
		TimeZone  string `json:"timeZone"`
		Schedule  *struct {
			Hours     []int    `json:"hours"`
			Minutes   []int    `json:"minutes"`
			MonthDays []int    `json:"monthDays"`
			WeekDays  []string `json:"weekDays"`
		} `json:"schedule"`
	} `json:"recurrence"`
}

const field = "properties.properties.schedules.computeStartStop"

// Parse reads and validates the schedules of an instance's properties. An
// invalid schedule gives a 400 whose target names the schedule and field.
func Parse(props map[string]any) ([]Schedule, error) {
	raw, ok := props["schedules"]
	if !ok || raw == nil {
		return nil, nil
	}
	outer, ok := raw.(map[string]any)
	if !ok {
		return nil, core.Invalid("properties.properties.schedules", "schedules must be an object like {\"computeStartStop\": [...]}.")
	}
	list, ok := outer["computeStartStop"]
	if !ok || list == nil {
		return nil, nil
	}
	b, _ := json.Marshal(list)
	var entries []entry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, core.Invalid(field, "schedules.computeStartStop must be a list of schedules with action, triggerType and cron or recurrence: %v", err)
	}
	if len(entries) > Max {
		return nil, core.Invalid(field, "An instance may have at most %d schedules; this one has %d.", Max, len(entries))
	}
	out := make([]Schedule, 0, len(entries))
	for i, e := range entries {
		s, err := parseOne(i, e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// invalidFunc makes a 400 error for field f of one schedule; the target
// and the message name the schedule.
type invalidFunc func(f, format string, args ...any) error

// parseOne reads and validates schedule i.
func parseOne(i int, e entry) (Schedule, error) {
	at := fmt.Sprintf("%s[%d]", field, i)
	name := fmt.Sprintf("Schedule %d", i+1)
	bad := func(f, format string, args ...any) error {
		return core.Invalid(at+"."+f, name+": "+format, args...)
	}
	s := Schedule{Index: i, Enabled: true}
	if err := parseActionAndStatus(&s, e, bad); err != nil {
		return s, err
	}
	var tz, start string
	var err error
	switch trigger := triggerOf(e); {
	case strings.EqualFold(trigger, "Cron"):
		tz, start, err = parseCronTrigger(&s, e, bad)
	case strings.EqualFold(trigger, "Recurrence"):
		tz, start, err = parseRecurrence(&s, e, bad)
	default:
		err = bad("triggerType", "triggerType must be Cron or Recurrence, not %q.", trigger)
	}
	if err != nil {
		return s, err
	}
	return s, parseTimes(&s, tz, start, bad)
}

// parseActionAndStatus sets the schedule's action (Start or Stop) and
// whether it is enabled (the default).
func parseActionAndStatus(s *Schedule, e entry, bad invalidFunc) error {
	switch {
	case strings.EqualFold(e.Action, ActionStart):
		s.Action = ActionStart
	case strings.EqualFold(e.Action, ActionStop):
		s.Action = ActionStop
	default:
		return bad("action", "action must be Start or Stop, not %q.", e.Action)
	}
	switch {
	case e.Status == "" || strings.EqualFold(e.Status, "Enabled"):
	case strings.EqualFold(e.Status, "Disabled"):
		s.Enabled = false
	default:
		return bad("status", "status must be Enabled or Disabled, not %q.", e.Status)
	}
	return nil
}

// triggerOf returns the entry's triggerType or, when it names none, the
// trigger its cron or recurrence object implies.
func triggerOf(e entry) string {
	trigger := e.TriggerType
	if trigger == "" {
		switch {
		case e.Cron != nil:
			trigger = "Cron"
		case e.Recurrence != nil:
			trigger = "Recurrence"
		}
	}
	return trigger
}

// parseCronTrigger sets a Cron schedule's expression and returns its time
// zone and start time.
func parseCronTrigger(s *Schedule, e entry, bad invalidFunc) (tz, start string, err error) {
	if e.Cron == nil {
		return "", "", bad("cron", "triggerType Cron needs a cron object with an expression, e.g. {\"expression\": \"0 18 * * *\"}.")
	}
	s.Trigger, s.Expr, tz, start = "Cron", e.Cron.Expression, e.Cron.TimeZone, e.Cron.StartTime
	sched, err := ParseCron(e.Cron.Expression)
	if err != nil {
		return "", "", bad("cron.expression", "%v", err)
	}
	s.sched = sched
	return tz, start, nil
}

// parseRecurrence sets a Recurrence schedule's cron equivalent (every n
// days, weeks or months for an interval above 1) and returns its time
// zone and start time.
func parseRecurrence(s *Schedule, e entry, bad invalidFunc) (tz, start string, err error) {
	if e.Recurrence == nil {
		return "", "", bad("recurrence", "triggerType Recurrence needs a recurrence object with frequency, interval and schedule.")
	}
	r := e.Recurrence
	s.Trigger, tz, start = "Recurrence", r.TimeZone, r.StartTime
	interval := 1
	if r.Interval != nil {
		interval = *r.Interval
	}
	if interval < 1 {
		return "", "", bad("recurrence.interval", "interval must be 1 or more, not %d.", interval)
	}
	var hours, minutes, monthDays []int
	var weekDays []string
	if r.Schedule != nil {
		hours, minutes, monthDays, weekDays = r.Schedule.Hours, r.Schedule.Minutes, r.Schedule.MonthDays, r.Schedule.WeekDays
	}
	expr, f, err := recurrenceCron(r.Frequency, interval, hours, minutes, monthDays, weekDays)
	if err != nil {
		return "", "", bad("recurrence."+f, "%v", err)
	}
	s.Expr = expr
	sched, err := ParseCron(expr)
	if err != nil {
		return "", "", bad("recurrence", "%v", err)
	}
	s.sched = sched
	if freq := strings.ToLower(r.Frequency); interval > 1 && (freq == "day" || freq == "week" || freq == "month") {
		s.sched = &everyNth{inner: sched, freq: freq, n: interval}
		s.Expr += fmt.Sprintf(" (every %d %ss)", interval, freq)
	}
	return tz, start, nil
}

// parseTimes sets the schedule's time zone and, when start is given, its
// start time (which also anchors an every-n schedule).
func parseTimes(s *Schedule, tz, start string, bad invalidFunc) error {
	loc, err := LoadLocation(tz)
	if err != nil {
		f := "cron.timeZone"
		if s.Trigger == "Recurrence" {
			f = "recurrence.timeZone"
		}
		return bad(f, "%v", err)
	}
	s.Location = loc
	if start != "" {
		t, err := parseStart(start, loc)
		if err != nil {
			f := "cron.startTime"
			if s.Trigger == "Recurrence" {
				f = "recurrence.startTime"
			}
			return bad(f, "startTime %q is not a date and time like 2024-04-23T01:30:00.", start)
		}
		s.Start = t
		if e, ok := s.sched.(*everyNth); ok {
			e.anchor = t
		}
	}
	return nil
}

func parseStart(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad start time %q", v)
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ParseCron parses a 5-field cron expression (minute hour day-of-month
// month day-of-week), the NCronTab format Azure uses.
func ParseCron(expr string) (cron.Schedule, error) {
	if n := len(strings.Fields(expr)); n != 5 {
		return nil, fmt.Errorf("the cron expression %q has %d fields; it needs 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 18 * * *\" for 18:00 every day", expr, n)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("the cron expression %q is not valid (%v); write 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 18 * * 1-5\"", expr, err)
	}
	return s, nil
}

var weekDayNums = map[string]int{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

// recurrenceCron turns a recurrence into a cron expression (intervals over
// days, weeks and months are applied on top by everyNth). It returns the
// offending field on error.
func recurrenceCron(freq string, interval int, hours, minutes, monthDays []int, weekDays []string) (string, string, error) {
	list := func(xs []int, lo, hi int, what string) (string, error) {
		if len(xs) == 0 {
			return "", nil
		}
		parts := make([]string, len(xs))
		for i, x := range xs {
			if x < lo || x > hi {
				return "", fmt.Errorf("%s must be from %d to %d, not %d", what, lo, hi, x)
			}
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ","), nil
	}
	h, err := list(hours, 0, 23, "hours")
	if err != nil {
		return "", "schedule.hours", err
	}
	m, err := list(minutes, 0, 59, "minutes")
	if err != nil {
		return "", "schedule.minutes", err
	}
	dom, err := list(monthDays, 1, 31, "monthDays")
	if err != nil {
		return "", "schedule.monthDays", err
	}
	var wd []string
	for _, d := range weekDays {
		n, ok := weekDayNums[strings.ToLower(d)]
		if !ok {
			return "", "schedule.weekDays", fmt.Errorf("weekDays must be names like Monday or Sunday, not %q", d)
		}
		wd = append(wd, fmt.Sprint(n))
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	switch strings.ToLower(freq) {
	case "minute":
		return fmt.Sprintf("*/%d * * * *", interval), "", nil
	case "hour":
		return fmt.Sprintf("%s */%d * * *", or(m, "0"), interval), "", nil
	case "day", "week", "month":
		if h == "" || m == "" {
			return "", "schedule", fmt.Errorf("a %s recurrence needs schedule.hours and schedule.minutes, e.g. {\"hours\": [18], \"minutes\": [0]}", strings.ToLower(freq))
		}
		dow := "*"
		if len(wd) > 0 {
			dow = strings.Join(wd, ",")
		}
		if strings.ToLower(freq) == "month" {
			return fmt.Sprintf("%s %s %s * %s", m, h, or(dom, "1"), dow), "", nil
		}
		return fmt.Sprintf("%s %s * * %s", m, h, dow), "", nil
	case "":
		return "", "frequency", fmt.Errorf("a recurrence needs a frequency: Minute, Hour, Day, Week or Month")
	default:
		return "", "frequency", fmt.Errorf("frequency must be Minute, Hour, Day, Week or Month, not %q", freq)
	}
}

// everyNth keeps only the firings of inner in every n-th day, week or
// month, counted from anchor (the schedule's start time).
type everyNth struct {
	inner  cron.Schedule
	freq   string
	n      int
	anchor time.Time
}

func (e *everyNth) Next(t time.Time) time.Time {
	for i := 0; i < 10000; i++ {
		t = e.inner.Next(t)
		if t.IsZero() || e.period(t)%e.n == 0 {
			return t
		}
	}
	return time.Time{}
}

func (e *everyNth) period(t time.Time) int {
	a := e.anchor.In(t.Location())
	day := func(x time.Time) int {
		y, m, d := x.Date()
		return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	}
	p := 0
	switch e.freq {
	case "day":
		p = day(t) - day(a)
	case "week":
		// Weeks start on Monday: shift both days to the Monday before.
		monday := func(x time.Time) int { return day(x) - (int(x.Weekday())+6)%7 }
		p = (monday(t) - monday(a)) / 7
	case "month":
		p = (t.Year()-a.Year())*12 + int(t.Month()) - int(a.Month())
	}
	if p < 0 {
		p = -p
	}
	return p
}

// Next returns the first firing strictly after t (zero if none).
func (s Schedule) Next(t time.Time) time.Time {
	if s.sched == nil {
		return time.Time{}
	}
	if !s.Start.IsZero() && t.Before(s.Start) {
		// Strictly after a nanosecond before: the start itself may fire,
		// and nothing earlier (a start with a fraction of a second used
		// to fire up to a second before it).
		t = s.Start.Add(-time.Nanosecond)
	}
	n := s.sched.Next(t.In(s.Location))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// maxLookback bounds how far back Latest searches (a schedule fires at
// least once a month, so its latest firing is never older than that).
const maxLookback = 32 * 24 * time.Hour

// Latest returns the last firing in (from, to], if any.
func (s Schedule) Latest(from, to time.Time) (time.Time, bool) {
	if !to.After(from) {
		return time.Time{}, false
	}
	if to.Sub(from) > maxLookback {
		from = to.Add(-maxLookback)
	}
	var last time.Time
	for t := s.Next(from); !t.IsZero() && !t.After(to); t = s.Next(t) {
		last = t
	}
	return last, !last.IsZero()
}

// Due returns the enabled schedule that fired last in (from, to], and when.
// When several fired, the most recent decides: it says what the instance
// should be now (see docs/instances.md, "Missed schedules").
func Due(scheds []Schedule, from, to time.Time) (Schedule, time.Time, bool) {
	var best Schedule
	var at time.Time
	for _, s := range scheds {
		if !s.Enabled {
			continue
		}
		if t, ok := s.Latest(from, to); ok && t.After(at) {
			best, at = s, t
		}
	}
	return best, at, !at.IsZero()
}

// NextAny returns the first firing of any enabled schedule after t.
func NextAny(scheds []Schedule, t time.Time) (Schedule, time.Time, bool) {
	var best Schedule
	var at time.Time
	for _, s := range scheds {
		if !s.Enabled {
			continue
		}
		if n := s.Next(t); !n.IsZero() && (at.IsZero() || n.Before(at)) {
			best, at = s, n
		}
	}
	return best, at, !at.IsZero()
}
