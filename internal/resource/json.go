package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Merge overlays src onto dst recursively (objects merge, anything else
// replaces) and returns dst.
func Merge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = Merge(dm, sm)
				continue
			}
			dst[k] = Merge(map[string]any{}, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// Decode parses a stored JSON document.
func Decode(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&m)
	}
	return m
}

// Encode serialises a document for the store.
func Encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode document: %v", err))
	}
	return b
}
