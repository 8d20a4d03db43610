package core

import (
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzParseISODuration: any string either parses to a duration of zero or
// more, which formats and parses back to itself (to float64 precision),
// or is refused with a message that quotes the input and shows the form.
func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"PT2M", "PT120S", "P1DT2H", "PT1.5S", "PT0,5S", "P2W", "PT1H30M15S", "pt15m", " PT5M ",
		"P1M", "P1Y", "PT", "P1DT", "PT9999999999999999H", "P106751DT23H47M16.854775807S", "PT1e3S", "PT.5S", "PT5.S",
		"P0D", "PT0.000000001S", "P1W2D", "PT1H1H", "P-1D", "PT+1S", "PT1_000S", "P١D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISODuration(s)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "PT30M") || !strings.Contains(msg, "ISO 8601") {
				t.Fatalf("ParseISODuration(%q): the error does not say how to write a duration: %v", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseISODuration(%q) = %v, a negative duration", s, d)
		}
		checkRoundTrip(t, d)
	})
}

// FuzzFormatISODuration: every duration formats to a string that parses
// back to it (negative ones format as PT0S).
func FuzzFormatISODuration(f *testing.F) {
	for _, d := range []int64{0, 1, 999, int64(time.Second), int64(90 * time.Minute), int64(24 * time.Hour), int64(36*time.Hour + 1),
		math.MaxInt64, math.MinInt64, -1, 1 << 53, 1<<53 + 1} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		if d <= 0 {
			if got := FormatISODuration(d); got != "PT0S" {
				t.Fatalf("FormatISODuration(%d) = %q, want PT0S", n, got)
			}
			return
		}
		checkRoundTrip(t, d)
	})
}

// checkRoundTrip: FormatISODuration(d) parses back to d. Parsing sums in
// float64, so durations beyond 2^53 ns (about 104 days) may come back a
// few nanoseconds off, never more than float64's relative precision.
func checkRoundTrip(t *testing.T, d time.Duration) {
	t.Helper()
	s := FormatISODuration(d)
	back, err := ParseISODuration(s)
	if err != nil {
		t.Fatalf("FormatISODuration(%d) = %q, which does not parse: %v", d, s, err)
	}
	diff := math.Abs(float64(back - d))
	if d < 1<<53 && diff != 0 || diff > float64(d)*1e-15+1 {
		t.Fatalf("FormatISODuration(%d) = %q parses back to %d", d, s, back)
	}
}
