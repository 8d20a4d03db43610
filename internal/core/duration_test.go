package core

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseISODuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"PT2M", 2 * time.Minute},
		{"PT120S", 120 * time.Second},
		{"P1DT2H", 26 * time.Hour},
		{"PT1.5S", 1500 * time.Millisecond},
		{"PT0,5S", 500 * time.Millisecond},
		{"PT30M", 30 * time.Minute},
		{"P1D", 24 * time.Hour},
		{"P2W", 14 * 24 * time.Hour},
		{"PT1H30M15S", time.Hour + 30*time.Minute + 15*time.Second},
		{"P1DT0S", 24 * time.Hour},
		{"PT0S", 0},
		{"pt15m", 15 * time.Minute},
		{" PT5M ", 5 * time.Minute},
		{"PT36H", 36 * time.Hour},
		{"PT0.000000015S", 15}, // rounded, not truncated (found by FuzzFormatISODuration)
		{"P106751DT23H47M16.854775807S", math.MaxInt64},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseISODuration(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseISODurationRefuses(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "P", "PT", "T2M", "2M", "PT2", "PTM", "P2H", "PT2D", "P1M", "P1Y", "PT2X",
		"PT1..5S", "P1DTT2H", "P1DT", "-PT2M", "PT-2M", "P T2M", "120", "PT2M junk",
		"PT9999999999999999H", "P99999999999W",
	} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseISODuration(in)
			require.Error(t, err)
			// The message shows the input and how to write a duration.
			require.Contains(t, err.Error(), "PT30M")
		})
	}
}

func TestFormatISODuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "PT0S"},
		{-time.Second, "PT0S"},
		{2 * time.Minute, "PT2M"},
		{120 * time.Second, "PT2M"},
		{26 * time.Hour, "P1DT2H"},
		{24 * time.Hour, "P1D"},
		{90 * time.Minute, "PT1H30M"},
		{1500 * time.Millisecond, "PT1.5S"},
		{time.Hour + time.Second, "PT1H1S"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, FormatISODuration(tc.in))
			if tc.in > 0 {
				back, err := ParseISODuration(tc.want)
				require.NoError(t, err)
				require.Equal(t, tc.in, back, "Format and Parse must round-trip")
			}
		})
	}
}
