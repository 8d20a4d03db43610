package resource

import (
	"encoding/json"
	"time"
)

// IntentKey is where a stored spec keeps what a user asked the server to
// do to a resource beyond its desired shape — cancel a job — for its
// reconciler to carry out. Admission writes it (a spec change: the
// generation moves); the reconciler acts on it and records what it did in
// the status, which admission never writes. Clients neither send nor see
// it.
const IntentKey = "intent"

// Intent is a resource's pending requests.
type Intent struct {
	// Cancel asks the job reconciler to cancel a job.
	Cancel *JobCancel `json:"cancel,omitempty"`
	// Action asks the instance reconciler to start, stop or restart an
	// instance (the latest request; the status records the last one
	// acted on, InstanceInternal.ActedIntent).
	Action *ActionIntent `json:"action,omitempty"`
}

// ActionIntent is a user's request to start, stop or restart.
type ActionIntent struct {
	Name string    `json:"name"` // a key of InstanceActions
	Seq  int64     `json:"seq"`  // numbers the requests, from 1
	At   time.Time `json:"at"`
	By   string    `json:"by,omitempty"`
}

// IntentOf decodes a stored spec's intent.
func IntentOf(spec json.RawMessage) Intent {
	var doc struct {
		Intent Intent `json:"intent"`
	}
	_ = json.Unmarshal(spec, &doc)
	return doc.Intent
}

// WithIntent returns the spec document with its intent replaced.
func WithIntent(spec json.RawMessage, in Intent) json.RawMessage {
	doc := Decode(spec)
	doc[IntentKey] = in
	return Encode(doc)
}
