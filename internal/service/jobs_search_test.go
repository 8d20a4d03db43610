package service

import "testing"

// TestSpecDisplayName: the scanner finds properties.displayName past
// values that hold quotes, brackets and keys of the same name, and reads
// escapes as JSON does.
func TestSpecDisplayName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ spec, want string }{
		{`{"properties":{"displayName":"warmup"}}`, "warmup"},
		{`{"properties":{"codeId":"a\"b}","command":"echo {[\"displayName\":1]}","distribution":{"displayName":"nested"},"displayName":"the one"}}`, "the one"},
		{`{"a":{"properties":{"displayName":"not this"}},"properties":{"x":[1,{"y":"}"}],"n":12.5,"t":true,"displayName":"this"}}`, "this"},
		{` { "properties" : { "isArchived" : false , "displayName" : "spaced" } } `, "spaced"},
		{`{"properties":{"displayName":"sweep \u003cfast\u003e \u0026 \"dirty\" Straße"}}`, `sweep <fast> & "dirty" Straße`},
		{`{"properties":{"displayName":null}}`, ""},
		{`{"properties":{"jobType":"Command"}}`, ""},
		{`{"properties":{}}`, ""},
		{`{}`, ""},
		{`[]`, ""},
		{``, ""},
		{`{"properties":{"displayName":"cut`, ""},
	} {
		if got := specDisplayName([]byte(c.spec)); got != c.want {
			t.Errorf("specDisplayName(%s) = %q, want %q", c.spec, got, c.want)
		}
	}
}

// TestContainsFoldASCII: any ASCII case, at the start, the end, after a
// false start, and not past the end.
func TestContainsFoldASCII(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		b, lower string
		want     bool
	}{
		{"Warmup", "warm", true},
		{"xxWARMUP", "warmup", true},
		{"wawarm", "warm", true},
		{"WaWARm", "warm", true},
		{"warmu", "warmup", false},
		{"WAR", "warm", false},
		{"job_99", "_99", true},
		{"job-99", "_99", false},
		{"", "a", false},
		{"abc", "", true},
	} {
		if got := containsFoldASCII([]byte(c.b), c.lower); got != c.want {
			t.Errorf("containsFoldASCII(%q, %q) = %v, want %v", c.b, c.lower, got, c.want)
		}
	}
}
