package service

import (
	"strings"

	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// NodeInfo renders one node as listNodes does.
func NodeInfo(n *store.Resource) map[string]any {
	st := resource.NodeStatusOf(n)
	var run any
	if st.Job != "" {
		run = st.Job
	}
	return map[string]any{"nodeId": n.Name, "privateIpAddress": st.PrivateIP, "publicIpAddress": st.PublicIP,
		"port": st.Port, "nodeState": strings.ToLower(n.State), "runId": run}
}
