// Package autoscale decides how a compute cluster's node count should
// change. It is pure: Decide takes the cluster's settings, its nodes, the
// queued demand, the room left on the host and the time, and returns what
// to add and remove and why. It never reads a clock or a store, so that
// every rule can be tested as a table or a property.
//
// The rules, in the order they apply:
//
//   - A busy node (running or preparing a job) is never removed.
//   - Preempted nodes that no job holds any more are removed at once, and
//     so are nodes whose removal began but did not finish (leaving).
//   - Idle nodes above maxNodeCount (after max was lowered) are removed at
//     once, oldest idle first.
//   - The goal is busy + demand nodes, clamped to [min, max]: queued jobs
//     are served by idle nodes first, then by new ones.
//   - New nodes are added only up to the goal, and only as many as the host
//     has room for; the rest wait, and the decision says so.
//   - An idle node above the goal is removed once it has been idle for the
//     idle time (nodeIdleTimeBeforeScaleDown), never below min.
package autoscale

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// State of a node as Azure reports it (lower-case in listNodes).
type State string

// Node states.
const (
	Idle      State = "idle"
	Running   State = "running"
	Preparing State = "preparing"
	Leaving   State = "leaving"
	Preempted State = "preempted"
	Unusable  State = "unusable"
)

// Settings are a cluster's scaleSettings.
type Settings struct {
	Min, Max int
	// IdleTime is nodeIdleTimeBeforeScaleDown.
	IdleTime time.Duration
}

// Node is what the decision needs to know about one node.
type Node struct {
	ID    string
	State State
	// Busy: a job holds the node (it may be preparing or running it).
	Busy bool
	// IdleSince is when the node last became idle (or was created).
	IdleSince time.Time
}

// Input is everything a decision depends on.
type Input struct {
	Settings Settings
	Nodes    []Node
	// Demand is how many nodes the queued jobs need that no node serves
	// yet (the sum of their instance counts).
	Demand int
	// HostRoom is how many more nodes of this cluster's size fit on the
	// host without overcommitting it.
	HostRoom int
	Now      time.Time
}

// Decision is what to do now, with the reason a user reads.
type Decision struct {
	// Add is how many nodes to create now.
	Add int
	// Remove lists the nodes to release now (never a busy one).
	Remove []string
	// Target is the node count the cluster is heading for (Azure's
	// targetNodeCount): the goal, or what the host allows of it.
	Target int
	// Waiting is how many wanted nodes do not fit on the host.
	Waiting int
	// Reason explains the decision in one sentence.
	Reason string
	// NextCheck is when an idle node's time runs out and the decision may
	// change without any other event; zero when nothing is pending.
	NextCheck time.Time
}

// Steady reports whether the decision changes nothing.
func (d Decision) Steady() bool { return d.Add == 0 && len(d.Remove) == 0 && d.Waiting == 0 }

// usable reports whether a node counts toward the cluster's size.
func usable(n Node) bool { return n.State != Preempted && n.State != Leaving && n.State != Unusable }

// Decide returns the scaling decision for in.
func Decide(in Input) Decision {
	s := clampSettings(in.Settings)
	demand := max(in.Demand, 0)
	room := max(in.HostRoom, 0)

	p := newPlan(in.Nodes)
	goal := min(max(p.busy+demand, s.Min), s.Max)
	p.removeAboveMax(s.Max)
	switch {
	case p.count < goal:
		p.scaleUp(s, goal, demand, room)
	case p.count > goal:
		p.scaleDown(s, goal, in.Now)
	default:
		p.d.Target = p.count
	}
	p.d.Reason = p.reason()
	return p.d
}

// clampSettings returns s with Min at least 0 and Max at least Min.
func clampSettings(s Settings) Settings {
	if s.Min < 0 {
		s.Min = 0
	}
	if s.Max < s.Min {
		s.Max = s.Min
	}
	return s
}

// plan is a decision being made: the decision so far, the reasons for it,
// and the usable nodes that remain once the planned removals are done.
type plan struct {
	d       Decision
	reasons []string
	// idle are the usable idle nodes not being removed, oldest idle first.
	idle []Node
	// busy counts the usable busy nodes; count all the usable nodes not
	// being removed.
	busy, count int
}

// newPlan sorts the nodes: preempted and leaving nodes that are not busy
// are removed (finishing what preemption or an earlier removal began);
// the usable ones are counted, busy or idle.
func newPlan(nodes []Node) *plan {
	p := &plan{}
	preempted, leaving := 0, 0
	for _, n := range nodes {
		switch {
		case n.State == Preempted && !n.Busy:
			p.d.Remove = append(p.d.Remove, n.ID)
			preempted++
		case n.State == Leaving && !n.Busy:
			// A removal that did not finish (the backend failed to stop
			// the node, or the server stopped meanwhile): finish it.
			p.d.Remove = append(p.d.Remove, n.ID)
			leaving++
		case !usable(n):
		case n.Busy:
			p.busy++
			p.count++
		default:
			p.idle = append(p.idle, n)
			p.count++
		}
	}
	if preempted > 0 {
		p.reasons = append(p.reasons, fmt.Sprintf("released %d preempted node(s)", preempted))
	}
	if leaving > 0 {
		p.reasons = append(p.reasons, fmt.Sprintf("finishing the removal of %d node(s)", leaving))
	}
	// Oldest idle first: those are the ones whose time runs out first.
	slices.SortStableFunc(p.idle, func(a, b Node) int { return a.IdleSince.Compare(b.IdleSince) })
	return p
}

// removeAboveMax removes the nodes above maxNodeCount as soon as they are
// idle, oldest idle first.
func (p *plan) removeAboveMax(maxNodes int) {
	over := p.count - maxNodes
	if over <= 0 {
		return
	}
	n := min(over, len(p.idle))
	for _, x := range p.idle[:n] {
		p.d.Remove = append(p.d.Remove, x.ID)
	}
	p.idle = p.idle[n:]
	p.count -= n
	if n > 0 {
		p.reasons = append(p.reasons, fmt.Sprintf("removing %d idle node(s) above maxNodeCount %d", n, maxNodes))
	}
}

// scaleUp adds the nodes the cluster lacks to reach goal, as many as fit
// in the host's room; the rest wait.
func (p *plan) scaleUp(s Settings, goal, demand, room int) {
	want := goal - p.count
	p.d.Add = min(want, room)
	p.d.Waiting = want - p.d.Add
	p.d.Target = p.count + p.d.Add
	why := "minNodeCount is " + fmt.Sprint(s.Min)
	if p.busy+demand > s.Min {
		why = fmt.Sprintf("queued jobs need %d more node(s)", demand-len(p.idle))
	}
	if p.d.Add > 0 {
		p.reasons = append(p.reasons, fmt.Sprintf("scaling up by %d to %d node(s): %s", p.d.Add, p.d.Target, why))
	}
	if p.d.Waiting > 0 {
		p.reasons = append(p.reasons, fmt.Sprintf("%d more node(s) wanted (%s) do not fit on this host and wait for room", p.d.Waiting, why))
	}
}

// scaleDown removes idle nodes above the goal once they have been idle long
// enough, oldest first, never taking the cluster below its goal (>= min).
// NextCheck is when the next one is due.
func (p *plan) scaleDown(s Settings, goal int, now time.Time) {
	extra := p.count - goal
	removed := 0
	for _, x := range p.idle {
		if removed == extra {
			break
		}
		due := x.IdleSince.Add(s.IdleTime)
		if !now.Before(due) {
			p.d.Remove = append(p.d.Remove, x.ID)
			removed++
			continue
		}
		if p.d.NextCheck.IsZero() || due.Before(p.d.NextCheck) {
			p.d.NextCheck = due
		}
		break // idle is sorted: later nodes are due later
	}
	p.count -= removed
	p.d.Target = p.count
	if removed > 0 {
		p.reasons = append(p.reasons, fmt.Sprintf("scaling down by %d to %d node(s): idle for %s or more", removed, p.count, s.IdleTime))
	}
	if p.count > goal && !p.d.NextCheck.IsZero() {
		p.reasons = append(p.reasons, fmt.Sprintf("%d idle node(s) will be removed after %s idle", p.count-goal, s.IdleTime))
	}
}

// reason joins the reasons into one sentence, saying the cluster is steady
// (or empty) when nothing else was said.
func (p *plan) reason() string {
	reasons := p.reasons
	if len(reasons) == 0 {
		switch {
		case p.count == 0:
			reasons = append(reasons, "no nodes: nothing is queued and minNodeCount is 0")
		default:
			// Not the busy and idle counts: they change with every job, and
			// the reason is written only when it changes.
			reasons = append(reasons, fmt.Sprintf("steady at %d node(s)", p.count))
		}
	}
	return strings.ToUpper(reasons[0][:1]) + strings.Join(reasons, "; ")[1:]
}
