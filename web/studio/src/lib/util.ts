// Pure helpers of the studio (unit-tested in util.test.ts).

// duration formats milliseconds as "1h 2m", "3m 4s" or "5s".
export function duration(ms: number): string {
  if (!isFinite(ms) || ms < 0) return "";
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

// shortDuration is duration with sub-second precision for short spans
// ("350 ms", "2.4s"), as a job's phases often are.
export function shortDuration(ms: number): string {
  if (!isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  return duration(ms);
}

// ago says how long ago an ISO time was, as people read it.
export function ago(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (isNaN(t)) return "";
  const d = Math.max(0, now - t);
  if (d < 60_000) return "just now";
  if (d < 3_600_000) return `${Math.floor(d / 60_000)} min ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)} h ago`;
  return new Date(t).toLocaleDateString();
}

// Transitional states: the studio refreshes faster while one is shown.
const moving = new Set([
  "creating", "starting", "stopping", "restarting", "deleting", "updating", "resizing",
  "notstarted", "queued", "preparing", "provisioning", "running", "finalizing", "cancelrequested", "starting",
]);
export function isMoving(state: string | undefined): boolean {
  return !!state && moving.has(state.toLowerCase());
}

// stateTone picks the colour of a state badge.
export function stateTone(state: string | undefined): "ok" | "busy" | "bad" | "idle" {
  const s = (state ?? "").toLowerCase();
  if (["running", "completed", "succeeded", "steady"].includes(s)) return "ok";
  if (["failed", "canceled", "createfailed", "unusable", "notresponding", "preempted"].includes(s)) return "bad";
  if (["stopped", "stopping", ""].includes(s)) return "idle";
  return "busy";
}

export interface TreeNode {
  name: string;
  path: string;
  dir: boolean;
  size?: number;
  children: TreeNode[];
}

// buildTree turns the file share's flat listing into a sorted tree
// (folders first); parents missing from the listing are made up.
export function buildTree(files: { path: string; isDirectory: boolean; size?: number }[]): TreeNode {
  const root: TreeNode = { name: "", path: "", dir: true, children: [] };
  const index = new Map<string, TreeNode>([["", root]]);
  const ensure = (path: string): TreeNode => {
    const hit = index.get(path);
    if (hit) return hit;
    const i = path.lastIndexOf("/");
    const parent = ensure(i < 0 ? "" : path.slice(0, i));
    const n: TreeNode = { name: path.slice(i + 1), path, dir: true, children: [] };
    parent.children.push(n);
    index.set(path, n);
    return n;
  };
  for (const f of files) {
    const p = f.path.replace(/^\/+|\/+$/g, "");
    if (!p) continue;
    if (f.isDirectory) {
      ensure(p);
      continue;
    }
    const i = p.lastIndexOf("/");
    const parent = ensure(i < 0 ? "" : p.slice(0, i));
    if (!index.has(p)) {
      const n: TreeNode = { name: p.slice(i + 1), path: p, dir: false, size: f.size, children: [] };
      parent.children.push(n);
      index.set(p, n);
    }
  }
  const sort = (n: TreeNode) => {
    n.children.sort((a, b) => (a.dir === b.dir ? a.name.localeCompare(b.name) : a.dir ? -1 : 1));
    n.children.forEach(sort);
  };
  sort(root);
  return root;
}

// fileName checks a new file's name and adds the type's extension.
export function fileName(name: string, ext: string): { name?: string; error?: string } {
  const n = name.trim();
  if (!n) return { error: "Give the file a name." };
  if (/[\\/:*?"<>|]/.test(n)) return { error: 'A file name cannot contain \\ / : * ? " < > |.' };
  if (n === "." || n === "..") return { error: "Choose another name." };
  if (ext && !n.toLowerCase().endsWith(ext)) return { name: n + ext };
  return { name: n };
}

// The file types of "Create new file", as Azure ML Studio lists them.
export const fileTypes = [
  { label: "Notebook (*.ipynb)", ext: ".ipynb" },
  { label: "Python (*.py)", ext: ".py" },
  { label: "Bash (*.sh)", ext: ".sh" },
  { label: "YAML (*.yml)", ext: ".yml" },
  { label: "Text (*.txt)", ext: ".txt" },
  { label: "Other", ext: "" },
];

// emptyNotebook is what a new .ipynb holds.
export function emptyNotebook(): string {
  return JSON.stringify({
    cells: [{ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: [] }],
    metadata: { kernelspec: { display_name: "Python 3.8 - AzureML", language: "python", name: "python38-azureml" } },
    nbformat: 4, nbformat_minor: 5,
  }, null, 1) + "\n";
}

// dailyStop is a computeStartStop schedule entry: the action every day at
// HH:MM in a time zone (IANA or Windows id), as Azure ML Studio's "Add
// schedule" writes it.
export function dailySchedule(action: "Stop" | "Start", time: string, timeZone: string): Record<string, unknown> {
  const m = /^(\d{1,2}):(\d{2})$/.exec(time.trim());
  if (!m || +m[1] > 23 || +m[2] > 59) throw new Error(`Give the time as HH:MM (24-hour), not "${time}".`);
  return {
    action, triggerType: "Cron", status: "Enabled",
    cron: { expression: `${+m[2]} ${+m[1]} * * *`, timeZone: timeZone || "UTC" },
  };
}

// describeSchedule turns a computeStartStop entry into words.
export function describeSchedule(s: any): string {
  const tz = s?.cron?.timeZone ?? s?.recurrence?.timeZone ?? "UTC";
  if (s?.cron?.expression) {
    const [min, hour, dom, mon, dow] = String(s.cron.expression).split(/\s+/);
    if (dom === "*" && mon === "*" && dow === "*" && /^\d+$/.test(min) && /^\d+$/.test(hour))
      return `${s.action} every day at ${hour.padStart(2, "0")}:${min.padStart(2, "0")} (${tz})`;
    return `${s.action} on cron "${s.cron.expression}" (${tz})`;
  }
  if (s?.recurrence) {
    const r = s.recurrence;
    const h = r.schedule?.hours?.[0] ?? 0;
    const mi = r.schedule?.minutes?.[0] ?? 0;
    return `${s.action} every ${r.interval ?? 1} ${String(r.frequency ?? "day").toLowerCase()} at ${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")} (${tz})`;
  }
  return String(s?.action ?? "");
}

// nextTimeOf says when a daily HH:MM schedule fires next, as HH:MM.
export function scheduleTime(s: any): string | null {
  const e = s?.cron?.expression;
  if (!e) return null;
  const [min, hour] = String(e).split(/\s+/);
  if (!/^\d+$/.test(min) || !/^\d+$/.test(hour)) return null;
  return `${hour.padStart(2, "0")}:${min.padStart(2, "0")}`;
}

// language names the editor's highlighting for a file.
export function languageOf(path: string): "python" | "shell" | "yaml" | "json" | "text" {
  const p = path.toLowerCase();
  if (p.endsWith(".py")) return "python";
  if (p.endsWith(".sh") || p.endsWith(".bash")) return "shell";
  if (p.endsWith(".yml") || p.endsWith(".yaml")) return "yaml";
  if (p.endsWith(".json") || p.endsWith(".ipynb")) return "json";
  return "text";
}

// writeReason says why a write action is disabled, or null when allowed.
export function writeReason(role: string | undefined): string | null {
  if (role === "Owner" || role === "Contributor") return null;
  return `Your role is ${role ?? "unknown"}: Readers can look but not change anything. Ask an Owner for the Contributor role.`;
}

// ClusterForm is what "New compute cluster" asks for.
export interface ClusterForm {
  name: string;
  size: string;
  tier: "Dedicated" | "LowPriority";
  min: string;
  max: string;
  idleSeconds: string;
}

// clusterRequest checks the form and builds the PUT body of an AmlCompute
// (the shape azure-ai-ml sends), or says what to fix, by field.
export function clusterRequest(f: ClusterForm, location: string): { body?: Record<string, unknown>; errors: Partial<Record<keyof ClusterForm, string>> } {
  const errors: Partial<Record<keyof ClusterForm, string>> = {};
  if (!/^[a-zA-Z][a-zA-Z0-9-]{0,14}[a-zA-Z0-9]$/.test(f.name)) errors.name = "Use 2 to 16 letters, digits or hyphens, starting with a letter and ending with a letter or digit.";
  if (!f.size) errors.size = "Choose a virtual machine size.";
  const whole = (v: string) => (/^\d+$/.test(v.trim()) ? Number(v) : NaN);
  const min = whole(f.min), max = whole(f.max), idle = whole(f.idleSeconds);
  if (!(min >= 0 && min <= 1000)) errors.min = "Give a whole number of nodes, 0 or more.";
  if (!(max >= 1 && max <= 1000)) errors.max = "Give a whole number of nodes from 1 to 1000.";
  else if (min > max) errors.min = "The minimum cannot exceed the maximum.";
  if (!(idle >= 0)) errors.idleSeconds = "Give the idle time in whole seconds (120 scales idle nodes down after 2 minutes).";
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    body: {
      location,
      properties: {
        computeType: "AmlCompute",
        properties: { vmSize: f.size, vmPriority: f.tier, scaleSettings: { minNodeCount: min, maxNodeCount: max, nodeIdleTimeBeforeScaleDown: `PT${idle}S` } },
      },
    },
  };
}

// seconds reads an ISO 8601 duration such as PT2M or PT120S as seconds.
export function isoSeconds(d: string | undefined | null): number | null {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(String(d ?? "").trim());
  if (!m || d === "P" || d === "PT") return null;
  return (+(m[1] ?? 0)) * 86400 + (+(m[2] ?? 0)) * 3600 + (+(m[3] ?? 0)) * 60 + (+(m[4] ?? 0));
}

// serverOutputUri is the path the server fills in for a named output of a
// job submitted without one (internal/service/jobs.go, JobNamedOutputPath).
export function serverOutputUri(job: string, output: string): string {
  return `azureml://datastores/workspaceblobstore/paths/azureml/${job}/${output}/`;
}

// resubmitProperties is what Re-submit sends for a job: its properties
// without what the server owns (status, its account, services, the default
// output) and without what the server filled in for that job — the paths
// of named outputs under azureml/<job>/<output>/ (kept, they would make the
// new job write over the first one's outputs) and the display name when it
// is just the job's name — so the server fills them in for the new job.
// Output paths and display names the user gave stay.
export function resubmitProperties(job: { name: string; properties?: Record<string, any> }): Record<string, any> {
  const props: Record<string, any> = { ...(job.properties ?? {}) };
  for (const k of ["status", "services", "mlw", "parameters", "creationContext", "logFiles"]) delete props[k];
  if (props.displayName === job.name) delete props.displayName;
  if (props.outputs) {
    const outs: Record<string, any> = {};
    for (const [k, v] of Object.entries(props.outputs as Record<string, any>)) {
      if (k === "default") continue;
      const o = { ...v };
      if (typeof o.uri === "string" && o.uri.replace(/\/?$/, "/").toLowerCase() === serverOutputUri(job.name, k).toLowerCase()) delete o.uri;
      outs[k] = o;
    }
    props.outputs = outs;
  }
  return props;
}

// resubmitName names a job's re-run: its name (without an earlier re-run's
// suffix) and _r with the time in base 36.
export function resubmitName(name: string, now = Date.now()): string {
  return `${name.replace(/_r[0-9a-z]{8}$/, "")}_r${now.toString(36)}`;
}
