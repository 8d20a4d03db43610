package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// ClusterNodes lists the node rows of a cluster, in node order.
func (s *Service) ClusterNodes(ctx context.Context, cluster *resource.Object) ([]*resource.Object, error) {
	nodes, err := s.Store.List(ctx, store.ListOptions{Kind: resource.KindNode, Parent: resource.ResourceOpKey(cluster)})
	if err != nil {
		return nil, core.Internal(err)
	}
	resource.SortNodes(nodes)
	return nodes, nil
}

// Act implements ComputeActor for clusters: POST …/listNodes answers the
// nodes (Azure's AmlComputeNodesInformation); preemptNode (also routed
// directly, with ?nodeId=) preempts a low-priority node.
func (clusterType) Act(ctx context.Context, req *ComputeAction) (*ActionResult, error) {
	switch strings.ToLower(req.Action) {
	case "listnodes":
		nodes, err := req.Service.ClusterNodes(ctx, req.Compute)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(nodes))
		for _, n := range nodes {
			out = append(out, NodeInfo(n))
		}
		return &ActionResult{Body: map[string]any{"nodes": out, "nextLink": nil}}, nil
	case "preemptnode":
		id, _ := req.Body.Doc["nodeId"].(string)
		n, err := req.Service.PreemptNode(ctx, resource.WorkspaceRefOf(req.Workspace), req.Compute.Name, id)
		if err != nil {
			return nil, err
		}
		return &ActionResult{Body: PreemptAnswer(n)}, nil
	}
	return nil, core.Invalid("action", "A compute cluster has the actions listNodes and preemptNode, not %q.", req.Action)
}

// PreemptAnswer is the body answering preemptNode.
func PreemptAnswer(n *resource.Object) map[string]any {
	info := NodeInfo(n)
	info["status"] = "PreemptionRequested"
	return info
}

// PreemptNode asks for a node of a low-priority cluster to be preempted,
// as Azure reclaims low-priority VMs: the node goes away, and the job on
// it is requeued and runs again on another node. nodeID "" picks the
// first node running a job (or else the first node). This is how tests
// and chaos drills inject preemption.
func (s *Service) PreemptNode(ctx context.Context, ref core.WorkspaceRef, cluster, nodeID string) (*resource.Object, error) {
	p := PrincipalFrom(ctx)
	if err := requireWrite(p); err != nil {
		return nil, err
	}
	_, c, err := s.GetCompute(ctx, ref, cluster)
	if err != nil {
		return nil, err
	}
	if resource.ComputeTypeOf(c) != resource.AmlCompute {
		return nil, core.Invalid("name", "The compute '%s' is a %s; only compute clusters have nodes to preempt.", c.Name, resource.ComputeTypeOf(c))
	}
	spec, err := resource.ComputeSpecOf(c)
	if err != nil {
		return nil, core.Internal(fmt.Errorf("cluster %s: stored spec: %w", c.Name, err))
	}
	if resource.ClusterBackendOfCompute(c).Slurm() {
		return nil, &core.Error{Status: http.StatusConflict, Code: "SlurmOwnsPreemption", Target: "name",
			Message: fmt.Sprintf("The cluster '%s' runs on Slurm, which owns its nodes and their preemption; mlw cannot preempt them (a job Slurm preempts runs again as its next attempt).", c.Name)}
	}
	if !spec.Cluster.LowPriority {
		return nil, core.InvalidCode("NotLowPriority", "vmPriority",
			"The cluster '%s' is Dedicated; only nodes of low-priority clusters (vmPriority LowPriority, YAML tier: low_priority) can be preempted.", c.Name)
	}
	for attempt := 0; ; attempt++ {
		nodes, err := s.ClusterNodes(ctx, c)
		if err != nil {
			return nil, err
		}
		var n *resource.Object
		for _, x := range nodes {
			switch {
			case nodeID != "" && strings.EqualFold(x.Name, nodeID):
				n = x
			case nodeID == "" && n == nil && x.Owner != "":
				n = x
			}
		}
		if n == nil && nodeID == "" && len(nodes) > 0 {
			n = nodes[0]
		}
		if n == nil {
			if nodeID == "" {
				return nil, core.Conflict("NoNodes", "The cluster '%s' has no nodes to preempt.", c.Name)
			}
			return nil, core.NotFound("NodeNotFound", "The cluster '%s' has no node '%s'. List its nodes with `mlw compute list-nodes --name %s`.", c.Name, nodeID, c.Name)
		}
		if resource.NodeSpecOf(n).Preempt {
			return n, nil
		}
		name := n.Name
		n, err = store.Update(ctx, s.Store, n, func(n *resource.Object) error {
			spec := resource.NodeSpecOf(n)
			if !spec.Preempt {
				now := s.Now().UTC()
				spec.Preempt, spec.PreemptedAt, spec.PreemptBy = true, &now, principalName(p)
				n.Spec = resource.Encode(spec)
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) && attempt < 10 {
			continue // the node left meanwhile: pick another
		}
		if err != nil {
			return nil, storeErr(err, "node", name)
		}
		s.Queue.Enqueue(core.KindCompute, resource.Key(c))
		return n, nil
	}
}
