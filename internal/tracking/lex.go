package tracking

import (
	"strconv"
	"strings"
)

// keywords are the words of the grammar (matched without regard to case).
var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "LIKE": true, "ILIKE": true, "IN": true, "ASC": true, "DESC": true}

// lex splits a filter into tokens.
func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, token{kind: string(c), text: string(c), pos: i})
			i++
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" || op == "==" {
				return nil, badFilter(s, token{text: op, pos: i}, "unknown operator; use =, !=, <, <=, > or >=")
			}
			out = append(out, token{kind: "op", text: op, pos: i})
			i = j
		case c == '\'' || c == '"':
			val, j, ok := quoted(s, i)
			if !ok {
				return nil, badFilter(s, token{text: s[i:], pos: i}, "the string is not closed with %c", c)
			}
			out = append(out, token{kind: "str", text: s[i:j], val: val, pos: i})
			i = j
		case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			if _, err := strconv.ParseFloat(s[i:j], 64); err != nil {
				return nil, badFilter(s, token{text: s[i:j], pos: i}, "not a number")
			}
			out = append(out, token{kind: "num", text: s[i:j], pos: i})
			i = j
		case isIdentStart(c) || c == '`':
			t, j, err := ident(s, i)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			i = j
		default:
			return nil, badFilter(s, token{text: string(c), pos: i}, "unexpected character")
		}
	}
	return out, nil
}

// ident reads a word, or an identifier: entity.key where key may be
// quoted with backticks or double quotes (tags."mlflow.user").
func ident(s string, i int) (token, int, error) {
	start := i
	if s[i] == '`' {
		val, j, ok := quoted(s, i)
		if !ok {
			return token{}, 0, badFilter(s, token{text: s[i:], pos: i}, "the name is not closed with `")
		}
		return token{kind: "ident", text: s[i:j], val: val, pos: start}, j, nil
	}
	j := i
	for j < len(s) && isIdentStart(s[j]) {
		j++
	}
	word := s[i:j]
	if j < len(s) && s[j] == '.' {
		ent, ok := entityNames[strings.ToLower(word)]
		if !ok {
			return token{}, 0, badFilter(s, token{text: word, pos: i}, "unknown entity %q; use metrics, params, tags or attributes", word)
		}
		j++
		if j < len(s) && (s[j] == '`' || s[j] == '"') {
			val, k, ok := quoted(s, j)
			if !ok {
				return token{}, 0, badFilter(s, token{text: s[i:], pos: i}, "the key is not closed with %c", s[j])
			}
			return token{kind: "ident", text: s[i:k], val: val, ent: ent, pos: start}, k, nil
		}
		k := j
		for k < len(s) && isKeyChar(s[k]) {
			k++
		}
		return token{kind: "ident", text: s[i:k], val: s[j:k], ent: ent, pos: start}, k, nil
	}
	if up := strings.ToUpper(word); keywords[up] {
		return token{kind: "word", text: word, val: up, pos: start}, j, nil
	}
	return token{kind: "ident", text: word, val: word, pos: start}, j, nil
}

// quoted reads a string opened by s[i] up to the same quote; a backslash
// escapes the next character.
func quoted(s string, i int) (string, int, bool) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 < len(s) {
				j++
				b.WriteByte(s[j])
			}
		case q:
			return b.String(), j + 1, true
		default:
			b.WriteByte(s[j])
		}
	}
	return "", 0, false
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isKeyChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '/' || c == ':'
}
