package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
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

// view says how one kind of document is printed.
type view struct {
	// shape turns a REST document into the shape az ml and the SDK print
	// (-o json|yaml|tsv and --query); nil leaves it as it is. -o rest
	// always prints the REST document.
	shape func(Doc) Doc
	// cols are the table's columns, read from the REST document.
	cols []column
}

// print writes one document (single) or a list in the chosen format.
func (a *App) print(v any, cols []column) error { return a.printView(v, view{cols: cols}) }

// printView writes v (a REST document, a list of them, or any other
// value) as az does: shaped, then filtered by --query, then formatted.
func (a *App) printView(v any, vw view) error {
	f := a.format()
	if f == "none" {
		return nil
	}
	if f == "table" && a.query == nil {
		switch x := v.(type) {
		case Doc:
			return a.table([]Doc{x}, vw.cols)
		case []Doc:
			return a.table(x, vw.cols)
		default:
			return a.printJSONish(v)
		}
	}
	data := v
	if f != "rest" && vw.shape != nil {
		data = shapeAll(v, vw.shape)
	}
	generic, err := plainJSON(data)
	if err != nil {
		return err
	}
	if a.query != nil {
		if generic, err = a.query.search(generic); err != nil {
			return err
		}
		if generic == nil {
			return nil // az prints nothing for a null result
		}
	}
	switch f {
	case "json", "rest":
		enc := json.NewEncoder(a.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(generic)
	case "yaml":
		enc := yaml.NewEncoder(a.Out)
		enc.SetIndent(2)
		if err := enc.Encode(generic); err != nil {
			return err
		}
		return enc.Close()
	case "tsv":
		return writeTSV(a.Out, generic, a.query.keyOrder())
	case "table":
		return a.autoTable(generic, a.query.keyOrder())
	}
	return fmt.Errorf("unknown --output %q: use %s", a.output, outputFormats)
}

// peopleTable reports whether the output is the table for people (no
// --query), which some commands print in their own way.
func (a *App) peopleTable() bool { return a.format() == "table" && a.query == nil }

// structured reports whether the output is a document for scripts
// (json, yaml, tsv, rest, or any --query).
func (a *App) structured() bool {
	f := a.format()
	return f != "none" && (f != "table" || a.query != nil)
}

// shapeAll applies shape to a document or to each of a list.
func shapeAll(v any, shape func(Doc) Doc) any {
	switch x := v.(type) {
	case Doc:
		return shape(x)
	case []Doc:
		out := make([]Doc, len(x))
		for i, d := range x {
			out[i] = shape(d)
		}
		return out
	}
	return v
}

// plainJSON turns v into what encoding/json decodes into (maps, slices,
// float64, string, bool, nil), the values JMESPath and the formatters
// work on.
func plainJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// scalarText writes a scalar as az's tsv and table output do (Python's
// str()): integral numbers without a fraction, booleans True/False, null
// None.
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// orderedKeys returns a mapping's keys: those of order first (a --query's
// multiselect hash, in the query's order), then the rest sorted.
func orderedKeys(m map[string]any, order []string) []string {
	keys := make([]string, 0, len(m))
	seen := map[string]bool{}
	for _, k := range order {
		if _, ok := m[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// writeTSV is az's tsv output: one line per item of a list (a single
// value is a list of one); a mapping prints its values (a nested list as
// its length, a nested mapping as nothing), a list its items.
func writeTSV(w io.Writer, v any, order []string) error {
	rows, ok := v.([]any)
	if !ok {
		rows = []any{v}
	}
	var b strings.Builder
	cell := func(x any) string {
		switch y := x.(type) {
		case []any:
			return strconv.Itoa(len(y))
		case map[string]any:
			return ""
		}
		return scalarText(x)
	}
	for _, row := range rows {
		switch r := row.(type) {
		case map[string]any:
			for i, k := range orderedKeys(r, order) {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(cell(r[k]))
			}
		case []any:
			for i, x := range r {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(cell(x))
			}
		case bool:
			b.WriteString(strconv.FormatBool(r))
		default:
			b.WriteString(cell(r))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// autoTable is az's table of a --query result: a column per scalar field
// of each item (id, type and etag left out), Column1… for lists, Result
// for single values.
func (a *App) autoTable(v any, order []string) error {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var heads []string
	known := map[string]bool{}
	rows := make([]map[string]string, 0, len(items))
	add := func(row map[string]string, h, val string) {
		if !known[h] {
			known[h] = true
			heads = append(heads, h)
		}
		row[h] = val
	}
	for _, it := range items {
		row := map[string]string{}
		switch x := it.(type) {
		case map[string]any:
			for _, k := range orderedKeys(x, order) {
				switch k {
				case "id", "type", "etag":
					continue
				}
				switch x[k].(type) {
				case nil, []any, map[string]any:
					continue
				}
				add(row, strings.ToUpper(k[:1])+k[1:], scalarText(x[k]))
			}
		case []any:
			for i, val := range x {
				add(row, fmt.Sprintf("Column%d", i+1), scalarText(val))
			}
		default:
			add(row, "Result", scalarText(x))
		}
		rows = append(rows, row)
	}
	if len(heads) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	under := make([]string, len(heads))
	for i, h := range heads {
		under[i] = strings.Repeat("-", len(h))
	}
	fmt.Fprintln(tw, strings.Join(under, "\t"))
	for _, r := range rows {
		cells := make([]string, len(heads))
		for i, h := range heads {
			cells[i] = r[h]
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
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
