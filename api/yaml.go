package api

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// ReadYAML reads an Azure ML YAML file into v. Unknown fields are errors,
// and every error names the file, the line and the field, e.g.
// "job.yml: line 7: field comand not found".
func ReadYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return DecodeYAML(path, b, v)
}

// DecodeYAML is ReadYAML on bytes; name is used in error messages.
func DecodeYAML(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: %s", name, cleanYAMLErrors(te.Errors))
		}
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// cleanYAMLErrors turns yaml.v3's Go-flavoured messages into ones a YAML
// author can act on.
func cleanYAMLErrors(errs []string) string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		if i := strings.Index(e, " not found in type "); i >= 0 {
			e = e[:i] + " is not a known field here (check its spelling and indentation)"
		}
		if i := strings.Index(e, " into "); i >= 0 && strings.Contains(e, "cannot unmarshal") {
			want := e[i+len(" into "):]
			switch {
			case strings.HasPrefix(want, "int"), strings.HasPrefix(want, "float"):
				want = "a number"
			case want == "bool":
				want = "true or false"
			case want == "string":
				want = "text"
			case strings.HasPrefix(want, "map["), strings.HasPrefix(want, "api."):
				want = "a mapping (key: value lines)"
			case strings.HasPrefix(want, "[]"):
				want = "a list"
			}
			e = e[:i] + ", expected " + want
		}
		out = append(out, e)
	}
	return strings.Join(out, "; ")
}
