package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"gopkg.in/yaml.v3"

	"github.com/mlw-project/mlw/api"
)

// Doc is a JSON document as the server sent it.
type Doc = map[string]any

// column is one table column: a header and a dotted path into the document
// (or a function of it).
type column struct {
	Header string
	Path   string
	Func   func(Doc) string
}

// lookup follows a dotted path ("properties.provisioningState").
func lookup(d Doc, path string) any {
	var cur any = d
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func str(d Doc, path string) string {
	switch v := lookup(d, path).(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k, x := range v {
			keys = append(keys, fmt.Sprintf("%s=%v", k, x))
		}
		sort.Strings(keys)
		return strings.Join(keys, ",")
	default:
		return fmt.Sprint(v)
	}
}

// print writes one document (single) or a list in the chosen format.
func (a *App) print(v any, cols []column) error {
	switch a.format() {
	case "none":
		return nil
	case "json":
		enc := json.NewEncoder(a.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		enc := yaml.NewEncoder(a.Out)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	case "table":
		var docs []Doc
		switch x := v.(type) {
		case Doc:
			docs = []Doc{x}
		case []Doc:
			docs = x
		default:
			return a.printJSONish(v)
		}
		return a.table(docs, cols)
	default:
		return fmt.Errorf("unknown --output %q: use table, json, yaml or none", a.output)
	}
}

func (a *App) printJSONish(v any) error {
	enc := json.NewEncoder(a.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *App) table(docs []Doc, cols []column) error {
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.Header
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	under := make([]string, len(cols))
	for i, c := range cols {
		under[i] = strings.Repeat("-", len(c.Header))
	}
	fmt.Fprintln(tw, strings.Join(under, "\t"))
	for _, d := range docs {
		row := make([]string, len(cols))
		for i, c := range cols {
			if c.Func != nil {
				row[i] = c.Func(d)
			} else {
				row[i] = str(d, c.Path)
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// ANSI colours, used only on a terminal and when NO_COLOR is unset.
const (
	red    = "31"
	green  = "32"
	yellow = "33"
)

func (a *App) paint(code, s string) string {
	if !a.errIsTTY || os.Getenv("NO_COLOR") != "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// wait polls a long-running operation, showing a spinner on a terminal.
func (a *App) wait(ctx context.Context, c *api.Client, resp *api.Response, what string) error {
	start := time.Now()
	var bar *progressbar.ProgressBar
	if a.errIsTTY {
		bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(a.Err), progressbar.OptionSpinnerType(14),
			progressbar.OptionSetDescription(what), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
	}
	err := c.Wait(ctx, resp, func(status string) {
		if bar != nil {
			bar.Describe(fmt.Sprintf("%s (%s, %s)", what, status, time.Since(start).Round(time.Second)))
			_ = bar.Add(1)
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	if err == nil {
		fmt.Fprintf(a.Err, "%s: done in %s\n", what, time.Since(start).Round(10*time.Millisecond))
	}
	return err
}

// getDoc fetches one document.
func (a *App) getDoc(ctx context.Context, path string) (Doc, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	var d Doc
	_, err = c.Do(ctx, "GET", path, nil, &d)
	return d, err
}

// listDocs fetches every page of a list.
func (a *App) listDocs(ctx context.Context, path string) ([]Doc, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	docs, err := api.ListAll[Doc](ctx, c, path)
	if docs == nil {
		docs = []Doc{}
	}
	return docs, err
}

// errf writes a message for people to stderr.
func (a *App) errf(format string, args ...any) { fmt.Fprintf(a.Err, format, args...) }
