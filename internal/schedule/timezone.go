package schedule

import (
	"fmt"
	"strings"
	"time"
)

// windowsZones maps the Windows time zone ids Azure uses (and the studio
// offers) to IANA names. It holds the common ones, not all 140.
var windowsZones = map[string]string{
	"utc":                             "UTC",
	"coordinated universal time":      "UTC",
	"gmt standard time":               "Europe/London",
	"greenwich standard time":         "Atlantic/Reykjavik",
	"w. europe standard time":         "Europe/Berlin",
	"central europe standard time":    "Europe/Budapest",
	"central european standard time":  "Europe/Warsaw",
	"romance standard time":           "Europe/Paris",
	"e. europe standard time":         "Europe/Chisinau",
	"fle standard time":               "Europe/Kiev",
	"gtb standard time":               "Europe/Bucharest",
	"turkey standard time":            "Europe/Istanbul",
	"russian standard time":           "Europe/Moscow",
	"israel standard time":            "Asia/Jerusalem",
	"egypt standard time":             "Africa/Cairo",
	"south africa standard time":      "Africa/Johannesburg",
	"w. central africa standard time": "Africa/Lagos",
	"arabian standard time":           "Asia/Dubai",
	"arab standard time":              "Asia/Riyadh",
	"iran standard time":              "Asia/Tehran",
	"pakistan standard time":          "Asia/Karachi",
	"india standard time":             "Asia/Kolkata",
	"nepal standard time":             "Asia/Kathmandu",
	"bangladesh standard time":        "Asia/Dhaka",
	"se asia standard time":           "Asia/Bangkok",
	"singapore standard time":         "Asia/Singapore",
	"china standard time":             "Asia/Shanghai",
	"taipei standard time":            "Asia/Taipei",
	"tokyo standard time":             "Asia/Tokyo",
	"korea standard time":             "Asia/Seoul",
	"w. australia standard time":      "Australia/Perth",
	"cen. australia standard time":    "Australia/Adelaide",
	"e. australia standard time":      "Australia/Brisbane",
	"aus eastern standard time":       "Australia/Sydney",
	"new zealand standard time":       "Pacific/Auckland",
	"hawaiian standard time":          "Pacific/Honolulu",
	"alaskan standard time":           "America/Anchorage",
	"pacific standard time":           "America/Los_Angeles",
	"us mountain standard time":       "America/Phoenix",
	"mountain standard time":          "America/Denver",
	"central standard time":           "America/Chicago",
	"canada central standard time":    "America/Regina",
	"central standard time (mexico)":  "America/Mexico_City",
	"eastern standard time":           "America/New_York",
	"us eastern standard time":        "America/Indianapolis",
	"atlantic standard time":          "America/Halifax",
	"newfoundland standard time":      "America/St_Johns",
	"sa pacific standard time":        "America/Bogota",
	"e. south america standard time":  "America/Sao_Paulo",
	"argentina standard time":         "America/Buenos_Aires",
}

// LoadLocation resolves a time zone given as an IANA name ("Europe/Paris"),
// a Windows id ("Pacific Standard Time") or empty (UTC).
func LoadLocation(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return time.UTC, nil
	}
	if iana, ok := windowsZones[strings.ToLower(n)]; ok {
		n = iana
	}
	if strings.Contains(n, "..") || strings.HasPrefix(n, "/") {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	loc, err := time.LoadLocation(n)
	if err != nil || strings.EqualFold(n, "local") {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris or America/New_York, a Windows name such as \"Pacific Standard Time\" or \"W. Europe Standard Time\", or UTC", name)
	}
	return loc, nil
}
