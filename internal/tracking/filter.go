package tracking

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
)

// Entities a clause or an ordering is about.
const (
	EntMetric = "metric"
	EntParam  = "param"
	EntTag    = "tag"
	EntAttr   = "attribute"
)

// Comparison operators of the grammar.
const (
	OpEq    = "="
	OpNe    = "!="
	OpLt    = "<"
	OpLe    = "<="
	OpGt    = ">"
	OpGe    = ">="
	OpLike  = "LIKE"
	OpILike = "ILIKE"
	OpIn    = "IN"
	OpNotIn = "NOT IN"
)

// Clause is one comparison of a filter: Entity's Key Op a value (Num for
// numeric comparisons, Str for string ones, List for IN and NOT IN). For
// attributes Key is the canonical attribute name.
type Clause struct {
	Entity string
	Key    string
	Op     string
	Str    string
	Num    float64
	List   []string
}

// Numeric reports whether the clause compares numbers.
func (c Clause) Numeric() bool { return c.Entity == EntMetric || numericAttrs[c.Key] }

// Order is one term of order_by.
type Order struct {
	Entity string
	Key    string
	Asc    bool
}

// The attributes of runs and experiments one may filter and order by,
// with their aliases, and which of them are numbers (milliseconds).
var (
	runAttrs = map[string]string{
		"run_id": "run_id", "run_name": "run_name", "status": "status", "user_id": "user_id",
		"artifact_uri": "artifact_uri", "start_time": "start_time", "created": "start_time", "Created": "start_time",
		"end_time": "end_time", "lifecycle_stage": "lifecycle_stage",
	}
	experimentAttrs = map[string]string{
		"name": "name", "experiment_id": "experiment_id", "creation_time": "creation_time",
		"last_update_time": "last_update_time", "lifecycle_stage": "lifecycle_stage",
	}
	numericAttrs = map[string]bool{"start_time": true, "end_time": true, "creation_time": true, "last_update_time": true}
	entityNames  = map[string]string{
		"metric": EntMetric, "metrics": EntMetric,
		"param": EntParam, "params": EntParam, "parameter": EntParam, "parameters": EntParam,
		"tag": EntTag, "tags": EntTag,
		"attribute": EntAttr, "attributes": EntAttr, "attr": EntAttr, "run": EntAttr,
	}
)

// Grammar says which entities and attributes a search allows.
type Grammar struct {
	what     string // "runs" or "experiments", for messages
	attrs    map[string]string
	entities map[string]bool
}

// Runs is the grammar of runs/search; Experiments that of
// experiments/search (attributes and tags only).
var (
	Runs        = Grammar{what: "runs", attrs: runAttrs, entities: map[string]bool{EntMetric: true, EntParam: true, EntTag: true, EntAttr: true}}
	Experiments = Grammar{what: "experiments", attrs: experimentAttrs, entities: map[string]bool{EntTag: true, EntAttr: true}}
)

// token is a lexeme of a filter.
type token struct {
	kind string // "ident", "op", "word", "str", "num", "(", ")", ","
	text string // as written
	val  string // the value: an identifier's key, a string's contents
	ent  string // an identifier's entity ("" when it had none)
	pos  int
}

// ParseFilter parses an MLflow search filter ("metrics.acc > 0.9 AND
// params.lr = '0.01'") into clauses that all must hold. An empty filter
// has no clauses. Errors are INVALID_PARAMETER_VALUE naming the token.
func (g Grammar) ParseFilter(filter string) ([]Clause, error) {
	toks, err := lex(filter)
	if err != nil {
		return nil, err
	}
	var out []Clause
	for i := 0; i < len(toks); {
		if len(out) > 0 {
			if t := toks[i]; t.kind != "word" || t.val != "AND" {
				return nil, badFilter(filter, t, "expected AND between comparisons (OR is not supported)")
			}
			i++
			if i == len(toks) {
				return nil, badFilter(filter, toks[i-1], "a comparison must follow AND")
			}
		}
		c, n, err := g.clause(filter, toks[i:])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		i += n
	}
	return out, nil
}

// clause parses "identifier operator value" and returns the tokens used.
func (g Grammar) clause(filter string, toks []token) (Clause, int, error) {
	id := toks[0]
	c, err := g.identifier(filter, id)
	if err != nil {
		return c, 0, err
	}
	if len(toks) < 2 {
		return c, 0, badFilter(filter, id, "expected a comparison operator after %s", quote(id.text))
	}
	op, n := toks[1], 2
	switch {
	case op.kind == "op":
		c.Op = op.text
	case op.kind == "word" && (op.val == OpLike || op.val == OpILike || op.val == OpIn):
		c.Op = op.val
	case op.kind == "word" && op.val == "NOT" && len(toks) > 2 && toks[2].kind == "word" && toks[2].val == OpIn:
		c.Op, n = OpNotIn, 3
	default:
		return c, 0, badFilter(filter, op, "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN) after %s", quote(id.text))
	}
	if err := g.checkOp(filter, c, id, toks[n-1]); err != nil {
		return c, 0, err
	}
	if len(toks) <= n {
		return c, 0, badFilter(filter, toks[n-1], "expected a value after %s", quote(toks[n-1].text))
	}
	used, err := value(filter, &c, toks[n:])
	return c, n + used, err
}

// identifier resolves an identifier to an entity and key.
func (g Grammar) identifier(filter string, id token) (Clause, error) {
	if id.kind != "ident" {
		return Clause{}, badFilter(filter, id, "expected an identifier such as metrics.<key>, params.<key>, tags.<key> or attributes.<name>")
	}
	ent := id.ent
	if ent == "" {
		ent = EntAttr
	}
	if !g.entities[ent] {
		return Clause{}, badFilter(filter, id, "%s cannot be filtered by %ss", g.what, ent)
	}
	c := Clause{Entity: ent, Key: id.val}
	if ent == EntAttr {
		a, ok := g.attrs[id.val]
		if !ok {
			return c, badFilter(filter, id, "unknown attribute %q; %s have %s", id.val, g.what, attrList(g.attrs))
		}
		c.Key = a
	}
	if c.Key == "" {
		return c, badFilter(filter, id, "the identifier has no key")
	}
	return c, nil
}

// checkOp refuses an operator the entity does not support.
func (g Grammar) checkOp(filter string, c Clause, id, op token) error {
	numOps := c.Op == OpEq || c.Op == OpNe || c.Op == OpLt || c.Op == OpLe || c.Op == OpGt || c.Op == OpGe
	if c.Numeric() && !numOps {
		return badFilter(filter, op, "%s compares numbers: use =, !=, <, <=, > or >=, not %s", quote(id.text), c.Op)
	}
	if !c.Numeric() && numOps && c.Op != OpEq && c.Op != OpNe {
		return badFilter(filter, op, "%s is a string: use =, !=, LIKE, ILIKE, IN or NOT IN, not %s", quote(id.text), c.Op)
	}
	return nil
}

// value reads the clause's value: a number, a string or a list.
func value(filter string, c *Clause, toks []token) (int, error) {
	t := toks[0]
	if c.Op == OpIn || c.Op == OpNotIn {
		if t.kind != "(" {
			return 0, badFilter(filter, t, "%s needs a list of strings in parentheses, such as ('a', 'b')", c.Op)
		}
		for i := 1; i < len(toks); i += 2 {
			if toks[i].kind != "str" {
				return 0, badFilter(filter, toks[i], "expected a quoted string in the list")
			}
			c.List = append(c.List, toks[i].val)
			if i+1 >= len(toks) {
				return 0, badFilter(filter, toks[i], "the list is not closed with )")
			}
			switch toks[i+1].kind {
			case ")":
				return i + 2, nil
			case ",":
			default:
				return 0, badFilter(filter, toks[i+1], "expected , or ) in the list")
			}
		}
		return 0, badFilter(filter, t, "the list is empty or not closed")
	}
	if c.Numeric() {
		if t.kind != "num" {
			return 0, badFilter(filter, t, "%s%s compares numbers; %s is not a number", entPrefix(c.Entity), c.Key, quote(t.text))
		}
		c.Num, _ = strconv.ParseFloat(t.text, 64)
		return 1, nil
	}
	if t.kind != "str" {
		return 0, badFilter(filter, t, "%s%s compares strings: put the value in quotes ('%s')", entPrefix(c.Entity), c.Key, t.text)
	}
	c.Str = t.val
	return 1, nil
}

// ParseOrderBy parses order_by terms ("metrics.acc DESC",
// "attributes.start_time", "name ASC").
func (g Grammar) ParseOrderBy(terms []string) ([]Order, error) {
	var out []Order
	for _, term := range terms {
		toks, err := lex(term)
		if err != nil {
			return nil, orderField(err)
		}
		if len(toks) == 0 || len(toks) > 2 {
			return nil, Invalid("order_by", "Invalid order_by clause %q: write <identifier> [ASC|DESC], such as metrics.acc DESC.", term)
		}
		c, err := g.identifier(term, toks[0])
		if err != nil {
			return nil, orderField(err)
		}
		o := Order{Entity: c.Entity, Key: c.Key, Asc: true}
		if len(toks) == 2 {
			switch t := toks[1]; {
			case t.kind == "word" && t.val == "DESC":
				o.Asc = false
			case t.kind == "word" && t.val == "ASC":
			default:
				return nil, Invalid("order_by", "Invalid order_by clause %q: expected ASC or DESC after %s, got %s.", term, quote(toks[0].text), quote(t.text))
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// orderField renames a grammar error to the order_by field.
func orderField(err error) error {
	if ce, ok := core.AsError(err); ok {
		ce.Target = "order_by"
		ce.Message = strings.Replace(ce.Message, "Invalid filter", "Invalid order_by clause", 1)
	}
	return err
}

func entPrefix(ent string) string {
	if ent == EntAttr {
		return "attributes."
	}
	return ent + "s."
}

func attrList(m map[string]string) string {
	var names []string
	for k, v := range m {
		if k == v {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// quote puts a token in quotes for a message, unless it is a quoted string.
func quote(s string) string {
	if strings.HasPrefix(s, "'") || strings.HasPrefix(s, `"`) {
		return s
	}
	return "'" + s + "'"
}

func badFilter(filter string, t token, format string, args ...any) error {
	return Invalid("filter", "Invalid filter %q at position %d (%s): %s.", filter, t.pos+1, quote(t.text), fmt.Sprintf(format, args...))
}
