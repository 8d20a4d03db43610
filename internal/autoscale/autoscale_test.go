package autoscale

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func idleNode(id string, since time.Duration) Node {
	return Node{ID: id, State: Idle, IdleSince: t0.Add(-since)}
}

func busyNode(id string) Node {
	return Node{ID: id, State: Running, Busy: true, IdleSince: t0.Add(-time.Hour)}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	lab := Settings{Min: 0, Max: 2, IdleTime: 120 * time.Second}
	for _, tc := range []struct {
		name       string
		in         Input
		add        int
		remove     []string
		target     int
		waiting    int
		next       time.Duration // NextCheck - t0, 0 for none
		reasonPart string
	}{
		{name: "empty and nothing queued", in: Input{Settings: lab, HostRoom: 5},
			reasonPart: "No nodes: nothing is queued"},
		{name: "one job from zero", in: Input{Settings: lab, Demand: 1, HostRoom: 5},
			add: 1, target: 1, reasonPart: "Scaling up by 1 to 1 node(s): queued jobs need 1 more"},
		{name: "demand above max", in: Input{Settings: lab, Demand: 5, HostRoom: 5},
			add: 2, target: 2},
		{name: "idle node serves demand", in: Input{Settings: lab, Demand: 1, HostRoom: 5, Nodes: []Node{idleNode("a", time.Minute)}},
			target: 1, reasonPart: "Steady at 1 node(s)"},
		{name: "min from zero", in: Input{Settings: Settings{Min: 2, Max: 4, IdleTime: time.Minute}, HostRoom: 5},
			add: 2, target: 2, reasonPart: "minNodeCount is 2"},
		{name: "host full", in: Input{Settings: lab, Demand: 2, HostRoom: 1},
			add: 1, target: 1, waiting: 1, reasonPart: "do not fit on this host"},
		{name: "host has no room", in: Input{Settings: lab, Demand: 1, HostRoom: 0},
			waiting: 1, reasonPart: "1 more node(s) wanted (queued jobs need 1 more node(s)) do not fit"},
		{name: "idle not yet due", in: Input{Settings: lab, Now: t0, Nodes: []Node{idleNode("a", 100*time.Second)}},
			target: 1, next: 20 * time.Second, reasonPart: "will be removed after 2m0s idle"},
		{name: "idle due", in: Input{Settings: lab, Now: t0, Nodes: []Node{idleNode("a", 120*time.Second)}},
			remove: []string{"a"}, reasonPart: "Scaling down by 1 to 0"},
		{name: "idle due but min holds", in: Input{Settings: Settings{Min: 1, Max: 2, IdleTime: time.Second}, Now: t0,
			Nodes: []Node{idleNode("a", time.Hour), idleNode("b", time.Minute)}},
			remove: []string{"a"}, target: 1},
		{name: "busy never removed", in: Input{Settings: Settings{Min: 0, Max: 1, IdleTime: time.Second}, Now: t0,
			Nodes: []Node{busyNode("a")}},
			target: 1, reasonPart: "Steady at 1 node(s)"},
		{name: "max lowered: idle goes at once", in: Input{Settings: Settings{Min: 0, Max: 1, IdleTime: time.Hour}, Now: t0,
			Nodes: []Node{busyNode("a"), idleNode("b", time.Second), idleNode("c", time.Minute)}},
			remove: []string{"c", "b"}, target: 1, reasonPart: "above maxNodeCount 1"},
		{name: "max lowered below busy", in: Input{Settings: Settings{Min: 0, Max: 1, IdleTime: time.Hour}, Now: t0,
			Nodes: []Node{busyNode("a"), busyNode("b")}},
			target: 2},
		{name: "preempted released", in: Input{Settings: lab, Now: t0, Demand: 1, HostRoom: 3,
			Nodes: []Node{{ID: "p", State: Preempted}, {ID: "q", State: Preempted, Busy: true}}},
			add: 1, remove: []string{"p"}, target: 1, reasonPart: "Released 1 preempted node(s); scaling up by 1"},
		{name: "unfinished removal finished", in: Input{Settings: lab, Now: t0,
			Nodes: []Node{{ID: "l", State: Leaving}, idleNode("a", time.Second)}},
			remove: []string{"l"}, target: 1, next: 119 * time.Second, reasonPart: "Finishing the removal of 1 node(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.in.Now.IsZero() {
				tc.in.Now = t0
			}
			d := Decide(tc.in)
			require.Equal(t, tc.add, d.Add, d.Reason)
			require.Equal(t, tc.remove, d.Remove, d.Reason)
			require.Equal(t, tc.target, d.Target, d.Reason)
			require.Equal(t, tc.waiting, d.Waiting, d.Reason)
			if tc.next == 0 {
				require.True(t, d.NextCheck.IsZero(), "NextCheck %v", d.NextCheck)
			} else {
				require.Equal(t, t0.Add(tc.next), d.NextCheck)
			}
			require.Contains(t, d.Reason, tc.reasonPart)
		})
	}
}

// genInput draws a cluster in any state: settings (min may exceed the node
// count, max may have been lowered below it), nodes in every state, some
// demand and some room on the host.
func genInput(t *rapid.T) Input {
	minN := rapid.IntRange(0, 5).Draw(t, "min")
	maxN := rapid.IntRange(minN, 8).Draw(t, "max")
	idle := time.Duration(rapid.IntRange(0, 600).Draw(t, "idleSeconds")) * time.Second
	n := rapid.IntRange(0, 12).Draw(t, "nodes")
	states := []State{Idle, Running, Preparing, Leaving, Preempted, Unusable}
	var nodes []Node
	for i := range n {
		st := rapid.SampledFrom(states).Draw(t, "state")
		busy := st == Running || st == Preparing || (st == Preempted && rapid.Bool().Draw(t, "preemptedBusy"))
		since := time.Duration(rapid.IntRange(0, 1200).Draw(t, "idleFor")) * time.Second
		nodes = append(nodes, Node{ID: fmt.Sprintf("n%d", i), State: st, Busy: busy, IdleSince: t0.Add(-since)})
	}
	return Input{Settings: Settings{Min: minN, Max: maxN, IdleTime: idle}, Nodes: nodes,
		Demand: rapid.IntRange(0, 10).Draw(t, "demand"), HostRoom: rapid.IntRange(0, 10).Draw(t, "room"), Now: t0}
}

func TestDecideProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		d := Decide(in)
		byID := map[string]Node{}
		usableCount, busy := 0, 0
		for _, n := range in.Nodes {
			byID[n.ID] = n
			if usable(n) {
				usableCount++
				if n.Busy {
					busy++
				}
			}
		}
		removedUsable := 0
		seen := map[string]bool{}
		for _, id := range d.Remove {
			n, ok := byID[id]
			if !ok {
				t.Fatalf("removed unknown node %s", id)
			}
			if seen[id] {
				t.Fatalf("node %s removed twice", id)
			}
			seen[id] = true
			// Never a busy node.
			if n.Busy {
				t.Fatalf("removed busy node %+v: %s", n, d.Reason)
			}
			if usable(n) {
				removedUsable++
				// An idle node within its idle time goes only when the
				// cluster is above max.
				if in.Now.Sub(n.IdleSince) < in.Settings.IdleTime && usableCount <= in.Settings.Max {
					t.Fatalf("removed node %s idle for only %v (idle time %v): %s", id, in.Now.Sub(n.IdleSince), in.Settings.IdleTime, d.Reason)
				}
			}
		}
		after := usableCount + d.Add - removedUsable
		// Never above max: no node is added beyond max, and the cluster
		// ends above max only by busy nodes it may not remove.
		if d.Add > 0 && usableCount+d.Add > in.Settings.Max {
			t.Fatalf("added %d to %d nodes, above max %d", d.Add, usableCount, in.Settings.Max)
		}
		if after > max(in.Settings.Max, busy) && removedUsable+len(d.Remove) == 0 && d.Add > 0 {
			t.Fatalf("ends with %d nodes, above max %d", after, in.Settings.Max)
		}
		// Never below min: removing stops at min.
		if removedUsable > 0 && after < in.Settings.Min {
			t.Fatalf("removed down to %d nodes, below min %d", after, in.Settings.Min)
		}
		// Below min, it grows as far as the host allows.
		if usableCount < in.Settings.Min && d.Add < min(in.Settings.Min-usableCount, in.HostRoom) {
			t.Fatalf("%d nodes below min %d with room %d, but added only %d", usableCount, in.Settings.Min, in.HostRoom, d.Add)
		}
		// Never overcommits the host, and says how many wait.
		if d.Add > in.HostRoom {
			t.Fatalf("added %d nodes with room for %d", d.Add, in.HostRoom)
		}
		if d.Waiting > 0 && d.Add != in.HostRoom {
			t.Fatalf("%d nodes wait although the host has room for %d and only %d were added", d.Waiting, in.HostRoom, d.Add)
		}
		if d.Target != after {
			t.Fatalf("target %d, but the decision leaves %d nodes", d.Target, after)
		}
		if d.Add > 0 && removedUsable > 0 {
			t.Fatalf("adds and removes usable nodes at once: %s", d.Reason)
		}
		if d.Reason == "" {
			t.Fatal("no reason")
		}
		// Deterministic: the same input gives the same decision.
		again := Decide(in)
		if again.Add != d.Add || !slices.Equal(again.Remove, d.Remove) || again.Reason != d.Reason {
			t.Fatal("not deterministic")
		}
	})
}

// TestDecideConverges: applying decisions over time with no new demand
// ends at max(min, busy) nodes once every idle node's time has run out.
func TestDecideConverges(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		in.Demand = 0
		in.HostRoom = 100
		now := in.Now
		for step := 0; step < 50; step++ {
			d := Decide(in)
			gone := map[string]bool{}
			for _, id := range d.Remove {
				gone[id] = true
			}
			var next []Node
			for _, n := range in.Nodes {
				if !gone[n.ID] {
					next = append(next, n)
				}
			}
			for i := range d.Add {
				next = append(next, Node{ID: fmt.Sprintf("new%d-%d", step, i), State: Idle, IdleSince: now})
			}
			in.Nodes = next
			if d.NextCheck.IsZero() {
				if d.Add == 0 && len(d.Remove) == 0 {
					break
				}
			} else {
				now = d.NextCheck
			}
			in.Now = now
		}
		usableCount, busy := 0, 0
		for _, n := range in.Nodes {
			if usable(n) {
				usableCount++
				if n.Busy {
					busy++
				}
			}
		}
		if want := max(min(max(in.Settings.Min, busy), max(in.Settings.Max, busy)), busy); usableCount != want {
			t.Fatalf("settled at %d nodes, want %d (min %d, max %d, busy %d)", usableCount, want, in.Settings.Min, in.Settings.Max, busy)
		}
	})
}
