package core

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseISODuration parses an ISO 8601 duration such as "PT2M", "PT120S",
// "P1DT2H" or "PT1.5S". Years and months are refused because their length
// varies; weeks and days are taken as 7 and 1 times 24 hours.
func ParseISODuration(s string) (time.Duration, error) {
	orig := s
	bad := func(why string) error {
		return fmt.Errorf("%q is not an ISO 8601 duration (%s); write it like PT30M, PT120S or P1DT2H", orig, why)
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad("it must start with P and have at least one part")
	}
	s = s[1:]
	var total float64
	inTime, timeParts := false, 0
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, bad("T appears twice")
			}
			inTime = true
			s = s[1:]
			continue
		}
		if inTime {
			timeParts++
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == ',') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, bad("each number needs a unit letter after it")
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(s[:i], ",", "."), 64)
		if err != nil {
			return 0, bad("bad number")
		}
		var unit time.Duration
		switch u := s[i]; {
		case !inTime && u == 'W':
			unit = 7 * 24 * time.Hour
		case !inTime && u == 'D':
			unit = 24 * time.Hour
		case inTime && u == 'H':
			unit = time.Hour
		case inTime && u == 'M':
			unit = time.Minute
		case inTime && u == 'S':
			unit = time.Second
		case !inTime && (u == 'Y' || u == 'M'):
			return 0, bad("years and months have no fixed length")
		default:
			return 0, bad(fmt.Sprintf("unknown unit %q", u))
		}
		total += n * float64(unit)
		s = s[i+1:]
	}
	if inTime && timeParts == 0 {
		return 0, bad("T must be followed by hours, minutes or seconds")
	}
	// Converting a float beyond the int64 range gives an arbitrary value.
	// float64(math.MaxInt64) is 2^63, one past the range: the longest
	// duration (which FormatISODuration writes) rounds to it.
	if total > math.MaxInt64 {
		return 0, bad("it is longer than 290 years")
	}
	if total == math.MaxInt64 {
		return math.MaxInt64, nil
	}
	// Round, not truncate: 1.5e-8 s is 14.999999999999998 ns in float64.
	return time.Duration(math.Round(total)), nil
}

// FormatISODuration writes d as an ISO 8601 duration, e.g. PT2M or P1DT30M.
func FormatISODuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return b.String()
	}
	b.WriteString("T")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
		b.WriteString("S")
	}
	return b.String()
}

// Clock is where a component reads the time; the zero Clock is the
// system's. Tests set one to move time by hand.
type Clock func() time.Time

// Now returns the clock's time in UTC.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now().UTC()
	}
	return c().UTC()
}
