package cli

import (
	"fmt"
	"strings"

	"github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// query is a compiled --query (JMESPath, as az's): it filters the output
// after it is shaped and before it is formatted.
type query struct {
	expr string
	jp   jmespath.JMESPath
	keys []string // the keys of its outermost multiselect hash, in order
}

func (q *query) search(v any) (any, error) {
	out, err := q.jp.Search(v)
	if err != nil {
		return nil, fmt.Errorf("--query %q: %w", q.expr, err)
	}
	return out, nil
}

// keyOrder is the order of the columns a query asks for ({name: name,
// state: status}), which tsv and table keep as az does.
func (q *query) keyOrder() []string {
	if q == nil {
		return nil
	}
	return q.keys
}

// queryFlag is the --query flag. It compiles the expression while flags
// are parsed, so that a bad query fails before the command acts.
type queryFlag struct{ p **query }

func (f queryFlag) String() string {
	if *f.p == nil {
		return ""
	}
	return (*f.p).expr
}

func (f queryFlag) Type() string { return "JMESPath" }

func (f queryFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		*f.p = nil
		return nil
	}
	jp, err := jmespath.Compile(v)
	if err != nil {
		return fmt.Errorf("not a JMESPath query (see https://jmespath.org): %s", strings.TrimPrefix(err.Error(), "SyntaxError: "))
	}
	q := &query{expr: v, jp: jp}
	if ast, err := parsing.NewParser().Parse(v); err == nil {
		q.keys = hashKeys(ast)
	}
	*f.p = q
	return nil
}

// hashKeys finds the multiselect hash that shapes a query's result: the
// outermost one on the path from the root through the last child of each
// node (the right side of a projection, a pipe or a subexpression).
func hashKeys(n parsing.ASTNode) []string {
	if n.NodeType == parsing.ASTMultiSelectHash {
		keys := make([]string, 0, len(n.Children))
		for _, kv := range n.Children {
			if k, ok := kv.Value.(string); ok {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if len(n.Children) == 0 || n.NodeType == parsing.ASTFunctionExpression || n.NodeType == parsing.ASTMultiSelectList {
		return nil
	}
	return hashKeys(n.Children[len(n.Children)-1])
}
