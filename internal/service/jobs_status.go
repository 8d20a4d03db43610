package service

import (
	"strings"

	"github.com/mlw-project/mlw/internal/resource"
)

// NodeInfo renders one node as listNodes does.
func NodeInfo(n *resource.Object) map[string]any {
	st := resource.NodeStatusOf(n)
	var run any
	if st.Job != "" {
		run = st.Job
	}
	return map[string]any{"nodeId": n.Name, "privateIpAddress": st.PrivateIP, "publicIpAddress": st.PublicIP,
		"port": st.Port, "nodeState": strings.ToLower(n.State), "runId": run}
}
