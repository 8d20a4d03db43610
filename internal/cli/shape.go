package cli

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The shapes az ml and the azure-ai-ml SDK print (-o json|yaml|tsv):
// snake_case fields of the SDK's entities (azureml-resources §3), with
// references as YAML files write them (compute: azureml:cpu-cluster), so
// that `show -o yaml` of a job or a compute is a file `create --file`
// accepts back. The REST document stays available with -o rest.

// sdkMap builds a shaped document, leaving out empty values (nil, "",
// empty maps and lists), as the SDK's dump does.
type sdkMap Doc

func (m sdkMap) set(k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case map[string]any:
		if len(x) == 0 {
			return
		}
	case sdkMap:
		if len(x) == 0 {
			return
		}
		v = Doc(x)
	case []any:
		if len(x) == 0 {
			return
		}
	case []Doc:
		if len(x) == 0 {
			return
		}
	}
	m[k] = v
}

func mapAt(d Doc, path string) map[string]any {
	m, _ := lookup(d, path).(map[string]any)
	return m
}

func listAt(d Doc, path string) []any {
	l, _ := lookup(d, path).([]any)
	return l
}

// creationContext is the SDK's SystemData.
func creationContext(d Doc) Doc {
	sd := mapAt(d, "systemData")
	if sd == nil {
		return nil
	}
	out := sdkMap{}
	for rest, sdk := range map[string]string{"createdAt": "created_at", "createdBy": "created_by", "createdByType": "created_by_type",
		"lastModifiedAt": "last_modified_at", "lastModifiedBy": "last_modified_by", "lastModifiedByType": "last_modified_by_type"} {
		out.set(sdk, sd[rest])
	}
	return Doc(out)
}

// armRef prefixes an ARM id with azureml:, as the SDK prints asset ids.
func armRef(id string) string {
	if id == "" || strings.HasPrefix(strings.ToLower(id), "azureml:") {
		return id
	}
	return "azureml:" + id
}

var (
	versionedIDRE = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+/(environments|codes|models|data|components)/([^/]+)/versions/([^/]+)$`)
	computeIDRE   = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+/computes/([^/]+)$`)
	groupIDRE     = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/([^/]+)/`)
	isoDurationRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)
)

// environmentRef writes a job's environmentId as a job file does: curated
// and registry references as they are, a workspace environment as
// azureml:name:version.
func environmentRef(id string) string {
	if m := versionedIDRE.FindStringSubmatch(id); m != nil {
		return "azureml:" + m[2] + ":" + m[3]
	}
	return id
}

// computeRef writes a computeId as azureml:name.
func computeRef(id string) string {
	if m := computeIDRE.FindStringSubmatch(id); m != nil {
		return "azureml:" + m[1]
	}
	return id
}

// isoSeconds reads an ISO 8601 duration (PT600S, PT1H30M, P1D) as
// seconds; ok is false for anything else.
func isoSeconds(s string) (int64, bool) {
	m := isoDurationRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.ToUpper(s) == "PT" {
		return 0, false
	}
	var total float64
	for i, unit := range []float64{86400, 3600, 60, 1} {
		if m[i+1] != "" {
			v, _ := strconv.ParseFloat(m[i+1], 64)
			total += v * unit
		}
	}
	return int64(total), true
}

// restModes maps REST delivery modes to the SDK's.
var restModes = map[string]string{"ReadOnlyMount": "ro_mount", "ReadWriteMount": "rw_mount", "Download": "download",
	"Upload": "upload", "Direct": "direct", "EvalMount": "eval_mount", "EvalDownload": "eval_download"}

func sdkMode(m any) any {
	if s, ok := m.(string); ok {
		if v, ok := restModes[s]; ok {
			return v
		}
	}
	return m
}

// jobShape is a command job as `az ml job show` prints it.
func jobShape(d Doc) Doc {
	p := mapAt(d, "properties")
	if p == nil {
		return d
	}
	out := sdkMap{}
	out.set("name", d["name"])
	out.set("id", armRef(str(d, "id")))
	out.set("type", strings.ToLower(str(d, "properties.jobType")))
	out.set("status", p["status"])
	out.set("display_name", p["displayName"])
	out.set("experiment_name", p["experimentName"])
	out.set("description", p["description"])
	out.set("tags", p["tags"])
	out.set("properties", p["properties"])
	out.set("command", p["command"])
	out.set("code", armRef(str(d, "properties.codeId")))
	out.set("environment", environmentRef(str(d, "properties.environmentId")))
	out.set("environment_variables", p["environmentVariables"])
	out.set("compute", computeRef(str(d, "properties.computeId")))
	out.set("parent_job_name", p["parentJobName"])
	out.set("creation_context", creationContext(d))
	out.set("inputs", jobInputsShape(mapAt(d, "properties.inputs")))
	out.set("outputs", jobOutputsShape(mapAt(d, "properties.outputs")))
	out.set("resources", jobResourcesShape(mapAt(d, "properties.resources")))
	out.set("distribution", jobDistributionShape(mapAt(d, "properties.distribution")))
	out.set("limits", jobLimitsShape(str(d, "properties.limits.timeout")))
	out.set("identity", jobIdentityShape(mapAt(d, "properties.identity")))
	out.set("queue_settings", jobQueueSettingsShape(mapAt(d, "properties.queueSettings")))
	out.set("services", jobServicesShape(mapAt(d, "properties.services")))
	return Doc(out)
}

// jobInputsShape is a job's inputs: literals as their value, data as
// type, path and mode.
func jobInputsShape(rest map[string]any) sdkMap {
	inputs := sdkMap{}
	for k, v := range rest {
		in, _ := v.(map[string]any)
		if in == nil {
			continue
		}
		if in["jobInputType"] == "literal" {
			inputs[k] = in["value"]
			continue
		}
		m := sdkMap{}
		m.set("type", in["jobInputType"])
		m.set("path", in["uri"])
		m.set("mode", sdkMode(in["mode"]))
		m.set("description", in["description"])
		inputs[k] = Doc(m)
	}
	return inputs
}

func jobOutputsShape(rest map[string]any) sdkMap {
	outputs := sdkMap{}
	for k, v := range rest {
		o, _ := v.(map[string]any)
		if o == nil {
			continue
		}
		m := sdkMap{}
		m.set("type", o["jobOutputType"])
		m.set("path", o["uri"])
		m.set("mode", sdkMode(o["mode"]))
		m.set("name", o["assetName"])
		m.set("version", o["assetVersion"])
		m.set("description", o["description"])
		outputs[k] = Doc(m)
	}
	return outputs
}

// jobResourcesShape and the shapes below return nil for a job without
// the part (which then leaves it out).
func jobResourcesShape(r map[string]any) sdkMap {
	if r == nil {
		return nil
	}
	m := sdkMap{}
	m.set("instance_count", r["instanceCount"])
	m.set("instance_type", r["instanceType"])
	m.set("shm_size", r["shmSize"])
	m.set("docker_args", r["dockerArgs"])
	if props, ok := r["properties"].(map[string]any); ok {
		m["properties"] = props
	}
	return m
}

func jobDistributionShape(dist map[string]any) sdkMap {
	if dist == nil {
		return nil
	}
	m := sdkMap{}
	m.set("type", strings.ToLower(str(Doc(dist), "distributionType")))
	m.set("process_count_per_instance", dist["processCountPerInstance"])
	m.set("worker_count", dist["workerCount"])
	m.set("parameter_server_count", dist["parameterServerCount"])
	return m
}

// jobLimitsShape is the timeout in seconds (or as written, when it is not
// an ISO 8601 duration).
func jobLimitsShape(timeout string) Doc {
	if timeout == "" {
		return nil
	}
	if s, ok := isoSeconds(timeout); ok {
		return Doc{"timeout": s}
	}
	return Doc{"timeout": timeout}
}

func jobIdentityShape(id map[string]any) sdkMap {
	if id == nil {
		return nil
	}
	m := sdkMap{}
	m.set("type", map[string]string{"Managed": "managed", "AMLToken": "aml_token", "UserIdentity": "user_identity"}[str(Doc(id), "identityType")])
	m.set("client_id", id["clientId"])
	m.set("object_id", id["objectId"])
	m.set("msi_resource_id", id["resourceId"])
	return m
}

func jobQueueSettingsShape(q map[string]any) sdkMap {
	if q == nil {
		return nil
	}
	m := sdkMap{}
	m.set("job_tier", q["jobTier"])
	m.set("priority", q["priority"])
	return m
}

func jobServicesShape(rest map[string]any) sdkMap {
	services := sdkMap{}
	for k, v := range rest {
		s, _ := v.(map[string]any)
		if s == nil {
			continue
		}
		m := sdkMap{}
		m.set("job_service_type", s["jobServiceType"])
		m.set("endpoint", s["endpoint"])
		m.set("port", s["port"])
		m.set("properties", s["properties"])
		m.set("status", s["status"])
		m.set("error_message", s["errorMessage"])
		if n, ok := s["nodes"].(map[string]any); ok && n["nodesValueType"] == "All" {
			m["nodes"] = "all"
		}
		services[k] = Doc(m)
	}
	return services
}

// computeShape is a compute as `az ml compute show` prints it.
func computeShape(d Doc) Doc {
	if mapAt(d, "properties") == nil {
		return d
	}
	const pp = "properties.properties."
	out := sdkMap{}
	out.set("name", d["name"])
	out.set("id", d["id"])
	out.set("type", strings.ToLower(str(d, "properties.computeType")))
	out.set("location", d["location"])
	out.set("description", str(d, "properties.description"))
	out.set("tags", d["tags"])
	out.set("provisioning_state", str(d, "properties.provisioningState"))
	out.set("created_on", str(d, "properties.createdOn"))
	out.set("resource_id", str(d, "properties.resourceId"))
	out.set("provisioning_errors", listAt(d, "properties.provisioningErrors"))
	if id := mapAt(d, "identity"); id != nil {
		m := sdkMap{}
		m.set("type", camelToSnake(str(Doc(id), "type")))
		m.set("principal_id", id["principalId"])
		m.set("tenant_id", id["tenantId"])
		m.set("user_assigned_identities", id["userAssignedIdentities"])
		out.set("identity", m)
	}
	out.set("size", str(d, pp+"vmSize"))
	net := sdkMap{}
	if sub := str(d, pp+"subnet.id"); sub != "" {
		net.set("subnet", sub)
	}
	if v, ok := lookup(d, pp+"enableNodePublicIp").(bool); ok {
		out["enable_node_public_ip"] = v
	}
	switch str(d, "properties.computeType") {
	case "AmlCompute":
		out.set("tier", camelToSnake(str(d, pp+"vmPriority")))
		if b, ok := lookup(d, pp+"backend").(map[string]any); ok {
			out.set("backend", b)
		}
		if v := lookup(d, pp+"scaleSettings.minNodeCount"); v != nil {
			out["min_instances"] = v
		}
		if v := lookup(d, pp+"scaleSettings.maxNodeCount"); v != nil {
			out["max_instances"] = v
		}
		if s, ok := isoSeconds(str(d, pp+"scaleSettings.nodeIdleTimeBeforeScaleDown")); ok {
			out["idle_time_before_scale_down"] = s
		}
		switch str(d, pp+"remoteLoginPortPublicAccess") {
		case "Enabled":
			out["ssh_public_access_enabled"] = true
		case "Disabled":
			out["ssh_public_access_enabled"] = false
		}
		if u := str(d, pp+"userAccountCredentials.adminUserName"); u != "" {
			out.set("ssh_settings", Doc{"admin_username": u})
		}
	case "ComputeInstance":
		instanceShape(d, out, net)
	case "Kubernetes":
		out.set("namespace", str(d, pp+"namespace"))
		out.set("default_instance_type", str(d, pp+"defaultInstanceType"))
		out.set("instance_types", mapAt(d, pp+"instanceTypes"))
		out.set("images", mapAt(d, pp+"images"))
		out.set("node_count", lookup(d, pp+"nodeCount"))
		out.set("ready_node_count", lookup(d, pp+"readyNodeCount"))
	}
	out.set("network_settings", net)
	return Doc(out)
}

// instanceShape adds what only compute instances have.
func instanceShape(d Doc, out, net sdkMap) {
	const pp = "properties.properties."
	out.set("state", str(d, pp+"state"))
	out.set("last_operation", instanceLastOperationShape(mapAt(d, pp+"lastOperation")))
	var services []any
	for _, a := range listAt(d, pp+"applications") {
		if m, ok := a.(map[string]any); ok {
			services = append(services, Doc{"display_name": m["displayName"], "endpoint_uri": m["endpointUri"]})
		}
	}
	out.set("services", services)
	switch str(d, pp+"sshSettings.sshPublicAccess") {
	case "Enabled":
		out["ssh_public_access_enabled"] = true
	case "Disabled":
		out["ssh_public_access_enabled"] = false
	}
	ssh := sdkMap{}
	ssh.set("admin_username", str(d, pp+"sshSettings.adminUserName"))
	ssh.set("ssh_port", str(d, pp+"sshSettings.sshPort"))
	ssh.set("ssh_key_value", str(d, pp+"sshSettings.adminPublicKey"))
	out.set("ssh_settings", ssh)
	net.set("private_ip_address", str(d, pp+"connectivityEndpoints.privateIpAddress"))
	net.set("public_ip_address", str(d, pp+"connectivityEndpoints.publicIpAddress"))
	if idle := str(d, pp+"idleTimeBeforeShutdown"); idle != "" {
		out.set("idle_time_before_shutdown", idle)
		if s, ok := isoSeconds(idle); ok {
			out["idle_time_before_shutdown_minutes"] = s / 60
		}
	}
	if u := mapAt(d, pp+"personalComputeInstanceSettings.assignedUser"); u != nil {
		m := sdkMap{}
		m.set("user_object_id", u["objectId"])
		m.set("user_tenant_id", u["tenantId"])
		out.set("create_on_behalf_of", m)
	}
	out.set("setup_scripts", instanceSetupScriptsShape(d))
	if schedules := instanceSchedulesShape(listAt(d, pp+"schedules.computeStartStop")); len(schedules) > 0 {
		out["schedules"] = Doc{"compute_start_stop": schedules}
	}
	out.set("custom_applications", listAt(d, pp+"customServices"))
	for rest, sdk := range map[string]string{"enableSSO": "enable_sso", "enableRootAccess": "enable_root_access",
		"releaseQuotaOnStop": "release_quota_on_stop", "enableOSPatching": "enable_os_patching"} {
		if v, ok := lookup(d, pp+rest).(bool); ok {
			out[sdk] = v
		}
	}
	out.set("os_image_metadata", instanceOSImageShape(mapAt(d, pp+"osImageMetadata")))
}

// instanceLastOperationShape and instanceOSImageShape return nil for an
// instance without the part (which then leaves it out).
func instanceLastOperationShape(lo map[string]any) sdkMap {
	if lo == nil {
		return nil
	}
	m := sdkMap{}
	m.set("operation_name", lo["operationName"])
	m.set("operation_status", lo["operationStatus"])
	m.set("operation_time", lo["operationTime"])
	m.set("operation_trigger", lo["operationTrigger"])
	return m
}

func instanceOSImageShape(m map[string]any) sdkMap {
	if m == nil {
		return nil
	}
	om := sdkMap{}
	om.set("current_image_version", m["currentImageVersion"])
	om.set("latest_image_version", m["latestImageVersion"])
	om.set("is_latest_os_image_version", m["isLatestOsImageVersion"])
	return om
}

// instanceSetupScriptsShape is an instance's creation and startup scripts.
func instanceSetupScriptsShape(d Doc) sdkMap {
	scripts := sdkMap{}
	for rest, sdk := range map[string]string{"creationScript": "creation_script", "startupScript": "startup_script"} {
		s := mapAt(d, "properties.properties.setupScripts.scripts."+rest)
		if s == nil {
			continue
		}
		m := sdkMap{}
		m.set("path", s["scriptData"])
		m.set("command", s["scriptArguments"])
		if t, ok := s["timeout"].(string); ok {
			if n, err := strconv.Atoi(strings.TrimSuffix(t, "m")); err == nil {
				m["timeout_minutes"] = n
			}
		}
		scripts.set(sdk, m)
	}
	return scripts
}

// instanceSchedulesShape is an instance's start and stop schedules.
func instanceSchedulesShape(rest []any) []any {
	var schedules []any
	for _, e := range rest {
		s, _ := e.(map[string]any)
		if s == nil {
			continue
		}
		sd := Doc(s)
		schedules = append(schedules, Doc{"action": strings.ToLower(str(sd, "action")), "state": strings.ToLower(str(sd, "status")), "trigger": Doc(scheduleTriggerShape(sd))})
	}
	return schedules
}

// scheduleTriggerShape is the trigger of one schedule: cron or recurrence.
func scheduleTriggerShape(sd Doc) sdkMap {
	trigger := sdkMap{}
	switch str(sd, "triggerType") {
	case "Cron":
		trigger.set("type", "cron")
		trigger.set("expression", str(sd, "cron.expression"))
		trigger.set("start_time", str(sd, "cron.startTime"))
		trigger.set("time_zone", str(sd, "cron.timeZone"))
	case "Recurrence":
		trigger.set("type", "recurrence")
		trigger.set("frequency", strings.ToLower(str(sd, "recurrence.frequency")))
		trigger.set("interval", lookup(sd, "recurrence.interval"))
		trigger.set("start_time", str(sd, "recurrence.startTime"))
		trigger.set("time_zone", str(sd, "recurrence.timeZone"))
		if sch := mapAt(sd, "recurrence.schedule"); sch != nil {
			m := sdkMap{}
			m.set("hours", sch["hours"])
			m.set("minutes", sch["minutes"])
			m.set("week_days", sch["weekDays"])
			trigger.set("schedule", m)
		}
	}
	return trigger
}

// camelToSnake is the SDK's camel_to_snake (LowPriority → low_priority,
// SystemAssigned → system_assigned).
func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// workspaceShape is a workspace as `az ml workspace show` prints it.
func workspaceShape(d Doc) Doc {
	if mapAt(d, "properties") == nil {
		return d
	}
	out := sdkMap{}
	id := str(d, "id")
	out.set("name", d["name"])
	out.set("id", id)
	out.set("location", d["location"])
	if m := groupIDRE.FindStringSubmatch(id); m != nil {
		out.set("resource_group", m[1])
	}
	out.set("display_name", str(d, "properties.friendlyName"))
	out.set("description", str(d, "properties.description"))
	out.set("tags", d["tags"])
	out.set("discovery_url", str(d, "properties.discoveryUrl"))
	out.set("mlflow_tracking_uri", str(d, "properties.mlFlowTrackingUri"))
	out.set("storage_account", str(d, "properties.storageAccount"))
	out.set("key_vault", str(d, "properties.keyVault"))
	out.set("application_insights", str(d, "properties.applicationInsights"))
	out.set("container_registry", str(d, "properties.containerRegistry"))
	out.set("public_network_access", str(d, "properties.publicNetworkAccess"))
	out.set("provisioning_state", str(d, "properties.provisioningState"))
	out.set("workspace_id", str(d, "properties.workspaceId"))
	if v, ok := lookup(d, "properties.hbiWorkspace").(bool); ok {
		out["hbi_workspace"] = v
	}
	if idt := mapAt(d, "identity"); idt != nil {
		m := sdkMap{}
		m.set("type", camelToSnake(str(Doc(idt), "type")))
		m.set("principal_id", idt["principalId"])
		m.set("tenant_id", idt["tenantId"])
		out.set("identity", m)
	}
	return Doc(out)
}

// envContainerShape is one environment of `az ml environment list`.
func envContainerShape(d Doc) Doc { return assetContainerShape(d, false) }

// assetContainerShape is one asset container (an environment, a model)
// as az ml lists it; a model's also has its properties.
func assetContainerShape(d Doc, withProperties bool) Doc {
	if mapAt(d, "properties") == nil {
		return d
	}
	out := sdkMap{}
	out.set("name", d["name"])
	out.set("id", armRef(str(d, "id")))
	out.set("latest_version", str(d, "properties.latestVersion"))
	out.set("description", str(d, "properties.description"))
	out.set("tags", mapAt(d, "properties.tags"))
	if withProperties {
		out.set("properties", mapAt(d, "properties.properties"))
	}
	out.set("creation_context", creationContext(d))
	return Doc(out)
}

// envVersionShape is an environment version as `az ml environment show`
// prints it; conda_file is the conda specification as a mapping.
func envVersionShape(d Doc) Doc {
	if mapAt(d, "properties") == nil {
		return d
	}
	out := sdkMap{}
	id := str(d, "id")
	name := ""
	if m := versionedIDRE.FindStringSubmatch(id); m != nil {
		name = m[2]
	}
	out.set("name", name)
	out.set("version", d["name"])
	out.set("id", armRef(id))
	out.set("description", str(d, "properties.description"))
	out.set("tags", mapAt(d, "properties.tags"))
	out.set("image", str(d, "properties.image"))
	if c := str(d, "properties.condaFile"); c != "" {
		var conda map[string]any
		if yaml.Unmarshal([]byte(c), &conda) == nil && conda != nil {
			out["conda_file"] = conda
		} else {
			out["conda_file"] = c
		}
	}
	if b := mapAt(d, "properties.build"); b != nil {
		m := sdkMap{}
		m.set("path", b["contextUri"])
		m.set("dockerfile_path", b["dockerfilePath"])
		out.set("build", m)
	}
	out.set("os_type", strings.ToLower(str(d, "properties.osType")))
	out.set("inference_config", mapAt(d, "properties.inferenceConfig"))
	out.set("creation_context", creationContext(d))
	return Doc(out)
}

// modelContainerShape is one model of `az ml model list`.
func modelContainerShape(d Doc) Doc { return assetContainerShape(d, true) }

// modelVersionShape is a model version as `az ml model show` prints it:
// path is the modelUri, flavors each flavor's data.
func modelVersionShape(d Doc) Doc {
	if mapAt(d, "properties") == nil {
		return d
	}
	out := sdkMap{}
	id := str(d, "id")
	if m := versionedIDRE.FindStringSubmatch(id); m != nil {
		out.set("name", m[2])
	}
	out.set("version", d["name"])
	out.set("id", armRef(id))
	out.set("type", str(d, "properties.modelType"))
	out.set("path", str(d, "properties.modelUri"))
	out.set("description", str(d, "properties.description"))
	out.set("tags", mapAt(d, "properties.tags"))
	out.set("properties", mapAt(d, "properties.properties"))
	flavors := sdkMap{}
	for k, f := range mapAt(d, "properties.flavors") {
		if fm, ok := f.(map[string]any); ok {
			flavors.set(k, fm["data"])
		}
	}
	out.set("flavors", flavors)
	out.set("stage", str(d, "properties.stage"))
	out.set("job_name", str(d, "properties.jobName"))
	out.set("creation_context", creationContext(d))
	return Doc(out)
}

// datastoreShape is a datastore as `az ml datastore show` prints it.
func datastoreShape(d Doc) Doc {
	if mapAt(d, "properties") == nil {
		return d
	}
	out := sdkMap{}
	out.set("name", d["name"])
	out.set("id", d["id"])
	out.set("type", camelToSnake(str(d, "properties.datastoreType")))
	out.set("description", str(d, "properties.description"))
	out.set("tags", mapAt(d, "properties.tags"))
	out.set("account_name", str(d, "properties.accountName"))
	out.set("container_name", str(d, "properties.containerName"))
	out.set("file_share_name", str(d, "properties.fileShareName"))
	out.set("endpoint", str(d, "properties.endpoint"))
	out.set("protocol", str(d, "properties.protocol"))
	out["credentials"] = Doc{}
	return Doc(out)
}

// nodeShape is one node of `az ml compute list-nodes`.
func nodeShape(d Doc) Doc {
	out := sdkMap{}
	out.set("node_id", d["nodeId"])
	out.set("node_state", d["nodeState"])
	out.set("private_ip_address", d["privateIpAddress"])
	out.set("public_ip_address", d["publicIpAddress"])
	out.set("port", d["port"])
	out.set("current_job_name", d["runId"])
	return Doc(out)
}
