package api

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ReadYAML reads an Azure ML YAML file into v. Unknown fields are errors,
// and every error names the file, the line and the field, e.g.
// "job.yml: line 7: comand: not a known field (check its spelling and
// indentation)" or "cluster.yml: line 4: max_instances: expected a number,
// not "two"".
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
			// The document parsed (the error is about types), so its nodes
			// name the fields the errors are about.
			var doc yaml.Node
			_ = yaml.Unmarshal(data, &doc)
			return fmt.Errorf("%s: %s", name, explainYAMLErrors(&doc, "", te.Errors))
		}
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

var (
	// yaml.v3's TypeError lines: "line 4: cannot unmarshal !!str `two`
	// into int" (long values cut to 7 characters and "..."), "line 7:
	// field comand not found in type api.jobYAML".
	unmarshalErrRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	unknownErrRE   = regexp.MustCompile(`^line (\d+): field (.+) not found in type .+$`)
)

// explainYAMLErrors turns yaml.v3's Go-flavoured messages into ones a YAML
// author can act on, naming the field (a dotted path from root, after
// prefix) and what it should hold.
func explainYAMLErrors(root *yaml.Node, prefix string, errs []string) string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		if m := unknownErrRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			field := m[2]
			if p := findYAMLKey(root, prefix, line, field); p != "" {
				field = p
			}
			out = append(out, fmt.Sprintf("line %d: %s: not a known field (check its spelling and indentation)", line, field))
			continue
		}
		if m := unmarshalErrRE.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			got := map[string]string{"map": "a mapping", "seq": "a list"}[m[2]]
			if got == "" {
				got = strconv.Quote(m[3])
			}
			msg := fmt.Sprintf("expected %s, not %s", wantedYAML(m[4]), got)
			if p := findYAMLValue(root, prefix, line, m[2], m[3]); p != "" {
				out = append(out, fmt.Sprintf("line %d: %s: %s", line, p, msg))
			} else {
				out = append(out, fmt.Sprintf("line %d: %s", line, msg))
			}
			continue
		}
		out = append(out, e)
	}
	return strings.Join(out, "; ")
}

// wantedYAML says in YAML's words what a Go type holds.
func wantedYAML(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"),
		strings.HasPrefix(goType, "*int"), strings.HasPrefix(goType, "*float"):
		return "a number"
	case goType == "bool", goType == "*bool":
		return "true or false"
	case goType == "string", goType == "*string":
		return "text"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a mapping (key: value lines)"
}

// findYAMLKey returns the dotted path of the mapping key named key on
// line, or "".
func findYAMLKey(n *yaml.Node, path string, line int, key string) string {
	return walkYAML(n, path, func(k, _ *yaml.Node) bool { return k.Line == line && k.Value == key })
}

// findYAMLValue returns the dotted path of the value on line with tag and
// text (as yaml.v3 quotes it: cut to 7 characters and "..." when long),
// or "".
func findYAMLValue(n *yaml.Node, path string, line int, tag, text string) string {
	return walkYAML(n, path, func(_, v *yaml.Node) bool {
		if v.Line != line {
			return false
		}
		switch tag {
		case "map":
			return v.Kind == yaml.MappingNode
		case "seq":
			return v.Kind == yaml.SequenceNode
		}
		if v.Kind != yaml.ScalarNode {
			return false
		}
		if cut, ok := strings.CutSuffix(text, "..."); ok && len(v.Value) > 10 {
			return strings.HasPrefix(v.Value, cut)
		}
		return v.Value == text
	})
}

// walkYAML visits every key and value of mappings (and the items of
// lists, as path[i] with a nil key) and returns the path of the first
// pair match accepts.
func walkYAML(n *yaml.Node, path string, match func(k, v *yaml.Node) bool) string {
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := walkYAML(c, path, match); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if match(k, v) {
				return p
			}
			if found := walkYAML(v, p, match); found != "" {
				return found
			}
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if match(&yaml.Node{}, v) {
				return p
			}
			if found := walkYAML(v, p, match); found != "" {
				return found
			}
		}
	}
	return ""
}
