import { useMemo, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { enc, getJSON, listAll, provider, send, wsPath, type Workspace } from "../lib/api";
import { computeState, useComputes, useDoc, useUsers, useWorkspaceDoc } from "../lib/queries";
import { navigate, useTitle } from "../lib/router";
import { ago, clusterRequest, dailySchedule, describeSchedule, duration, isoSeconds, scheduleTime, shortDuration, type ClusterForm } from "../lib/util";
import { preemptions } from "../lib/timeline";
import { useSession, useWorkspace, useWriteReason } from "../session";
import { Badge, Button, Dialog, Empty, ErrorBox, Field, Link, PageHeader, Spinner, Tabs, useNow } from "../ui";
import { TypedDelete } from "./ResourceGroups";

const props = (c: any) => c?.properties?.properties ?? {};
const isInstance = (c: any) => c?.properties?.computeType === "ComputeInstance";

export function Compute({ tab }: { tab: string }) {
  useTitle("Compute");
  const w = useWorkspace();
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/compute`;
  return (
    <section>
      <PageHeader title="Compute" />
      <Tabs
        tabs={[{ id: "instances", label: "Compute instances" }, { id: "clusters", label: "Compute clusters" }, { id: "quota", label: "Quota" }]}
        current={tab}
        onChange={(t) => navigate(base + "?tab=" + t, true)}
      />
      {tab === "clusters" ? <Clusters /> : tab === "quota" ? <Quota /> : <Instances />}
    </section>
  );
}

// idleText says "Idle for 12 min, stops at 18:00" (or what applies).
export function idleText(c: any, now = Date.now()): string {
  const p = props(c);
  const parts: string[] = [];
  if (p.state === "Running" && p.mlw?.idleSince) {
    // Minutes (the seconds would change at every look); under a minute,
    // or with the server's clock a little ahead, "less than a minute".
    const ms = now - Date.parse(p.mlw.idleSince);
    if (!isNaN(ms)) parts.push(ms < 60_000 ? "Idle for less than a minute" : `Idle for ${duration(ms).replace(/ \d+s$/, "")}`);
  }
  const stop = (p.schedules?.computeStartStop ?? []).find((s: any) => s.action === "Stop" && s.status !== "Disabled");
  const at = stop && scheduleTime(stop);
  if (at && p.state === "Running") parts.push(`stops at ${at}`);
  return parts.join(", ");
}

// Idle is idleText, kept current: "Idle for 12m" moves on every 15
// seconds even when the instance (and so the page's data) stays the same.
export function Idle({ c, fallback = "" }: { c: any; fallback?: string }) {
  const now = useNow(15_000);
  return <>{idleText(c, now) || fallback}</>;
}

function Instances() {
  const w = useWorkspace();
  const me = useSession();
  const q = useComputes(w);
  const qc = useQueryClient();
  const reason = useWriteReason();
  const [sel, setSel] = useState<string[]>([]);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [err, setErr] = useState<unknown>(null);
  const list = (q.data ?? []).filter(isInstance);
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/compute`;
  const act = async (action: string) => {
    setErr(null);
    try {
      for (const n of sel) await send("POST", `${wsPath(w)}/computes/${enc(n)}/${action}`);
    } catch (e) {
      setErr(e);
    }
    qc.invalidateQueries({ queryKey: ["computes"] });
  };
  const none = sel.length === 0 ? "Select one or more compute instances first." : null;
  return (
    <>
      <div className="toolbar">
        <Button icon="+" primary reason={reason} onClick={() => setCreating(true)}>New</Button>
        <Button icon="▶" reason={reason ?? none} onClick={() => act("start")}>Start</Button>
        <Button icon="■" reason={reason ?? none} onClick={() => act("stop")}>Stop</Button>
        <Button icon="⟳" reason={reason ?? none} onClick={() => act("restart")}>Restart</Button>
        <Button reason={reason ?? (sel.length === 1 ? null : "Select one compute instance to delete.")} onClick={() => setDeleting(sel[0])}>Delete</Button>
        <Button icon="↻" onClick={() => qc.invalidateQueries({ queryKey: ["computes"] })}>Refresh</Button>
      </div>
      <ErrorBox error={q.error ?? err} />
      {q.isPending ? <Spinner /> : list.length === 0 ? (
        <Empty title="No compute instances">A compute instance is your own development machine in the workspace: a terminal, Jupyter and the workspace files. Select <strong>New</strong> to create one.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Compute instances">
            <thead>
              <tr><th className="check"><span className="sr">Select</span></th><th>Name</th><th>State</th><th>Applications</th><th>Size</th><th>Assigned to</th><th>Schedules and idle</th><th>Created</th></tr>
            </thead>
            <tbody>
              {list.map((c: any) => {
                const p = props(c);
                const state = computeState(c);
                const mine = !p.mlw?.assignedUser || p.mlw.assignedUser.objectId === me.user.objectId;
                const running = state === "Running";
                const appReason = !running ? `The instance is ${state}; start it first.` : !mine ? `Only ${p.mlw?.assignedUser?.name}, the assigned user, may open its applications.` : null;
                const jupyter = (p.applications ?? []).find((a: any) => a.displayName === "Jupyter");
                return (
                  <tr key={c.id} data-compute={c.name}>
                    <td className="check"><input type="checkbox" aria-label={`Select ${c.name}`} checked={sel.includes(c.name)} onChange={(e) => setSel(e.target.checked ? [...sel, c.name] : sel.filter((x) => x !== c.name))} /></td>
                    <td><Link to={`${base}/${c.name}`}>{c.name}</Link></td>
                    <td><Badge state={state} /></td>
                    <td><span className="apps">
                      {jupyter && (appReason ? <span className="applink off" title={appReason}>Jupyter</span> : <a className="applink" href={jupyter.endpointUri} target="_blank" rel="noopener">Jupyter</a>)}
                      {appReason ? <span className="applink off" title={appReason}>Terminal</span> : <Link className="applink" to={`${base}/${c.name}/terminal`}>Terminal</Link>}
                    </span></td>
                    <td>{p.vmSize}</td>
                    <td>{p.mlw?.assignedUser?.name ?? ""}</td>
                    <td><Idle c={c} fallback={(p.schedules?.computeStartStop ?? []).length ? `${p.schedules.computeStartStop.length} schedule(s)` : ""} /></td>
                    <td>{ago(c.systemData?.createdAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {creating && <NewInstance onClose={() => setCreating(false)} />}
      {deleting && (
        <TypedDelete kind="compute instance" name={deleting} path={`${wsPath(w)}/computes/${enc(deleting)}`} warning="Its home directory and running processes go; the workspace files stay."
          onClose={() => setDeleting(null)} onDone={() => { setDeleting(null); setSel([]); qc.invalidateQueries({ queryKey: ["computes"] }); }} />
      )}
    </>
  );
}

function useSizes(w: Workspace) {
  const doc = useWorkspaceDoc(w);
  const loc = doc.data?.location ?? "eastus";
  const sizes = useQuery({ queryKey: ["vmSizes", w.sub, loc], enabled: !!doc.data, staleTime: 600_000,
    queryFn: () => getJSON(`/subscriptions/${w.sub}/${provider}/locations/${loc}/vmSizes`).then((d) => d.value as any[]) });
  const usage = useQuery({ queryKey: ["usages", w.sub, loc], enabled: !!doc.data,
    queryFn: () => listAll(`/subscriptions/${w.sub}/${provider}/locations/${loc}/usages`) });
  return { loc, sizes, usage };
}

function quotaLeft(usage: any[] | undefined, family: string): number | null {
  const u = (usage ?? []).find((x: any) => x.name?.value?.toLowerCase() === family.toLowerCase());
  return u ? u.limit - u.currentValue : null;
}

// NewInstance is Azure ML Studio's "Create compute instance": basics (name,
// VM type, size), then advanced settings.
function NewInstance({ onClose }: { onClose: () => void }) {
  const w = useWorkspace();
  const me = useSession();
  const qc = useQueryClient();
  const { loc } = useSizes(w);
  const users = useUsers();
  const [step, setStep] = useState<"basics" | "advanced">("basics");
  const [name, setName] = useState("");
  const [gpu, setGpu] = useState(false);
  const [size, setSize] = useState("Standard_DS11_v2");
  const [schedules, setSchedules] = useState<{ action: "Stop" | "Start"; time: string; tz: string }[]>([]);
  const [script, setScript] = useState<string | null>(null);
  const [ssh, setSsh] = useState<string | null>(null);
  const [subnet, setSubnet] = useState<string | null>(null);
  const [assignee, setAssignee] = useState<string | null>(null);
  const [idle, setIdle] = useState<string>("");
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const nameError = name && !/^[a-zA-Z][a-zA-Z0-9-]{2,23}$/.test(name) ? "Use 3 to 24 letters, digits or hyphens, starting with a letter." : null;
  const create = async () => {
    setBusy(true);
    setErr(null);
    try {
      const p: Record<string, unknown> = { vmSize: size };
      if (schedules.length) p.schedules = { computeStartStop: schedules.map((s) => dailySchedule(s.action, s.time, s.tz)) };
      if (script) p.setupScripts = { scripts: { creationScript: { scriptSource: "workspaceStorage", scriptData: script, timeout: "15m" } } };
      if (ssh !== null) p.sshSettings = { sshPublicAccess: "Enabled", adminPublicKey: ssh.trim() };
      if (subnet !== null) p.subnet = { id: subnet.trim() };
      if (assignee) p.personalComputeInstanceSettings = { assignedUser: { objectId: assignee, tenantId: me.user.tenantId } };
      if (idle) p.idleTimeBeforeShutdown = `PT${idle}M`;
      await send("PUT", `${wsPath(w)}/computes/${enc(name)}`, { location: loc, properties: { computeType: "ComputeInstance", properties: p } });
      qc.invalidateQueries({ queryKey: ["computes"] });
      onClose();
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  const footer = step === "basics" ? (
    <>
      <Button onClick={onClose}>Cancel</Button>
      <Button onClick={() => setStep("advanced")} disabled={!name || !!nameError}>Next: Advanced settings</Button>
      <Button primary onClick={create} disabled={!name || !!nameError || busy}>Create</Button>
    </>
  ) : (
    <>
      <Button onClick={() => setStep("basics")}>Back</Button>
      <Button primary onClick={create} disabled={busy}>{busy ? "Creating…" : "Create"}</Button>
    </>
  );
  return (
    <Dialog title="Create compute instance" onClose={onClose} footer={footer} wide>
      <Tabs tabs={[{ id: "basics", label: "Basics" }, { id: "advanced", label: "Advanced settings" }]} current={step} onChange={(s) => setStep(s as any)} />
      {step === "basics" ? (
        <div className="form">
          <Field label="Compute name" error={nameError}><input value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-you" aria-label="Compute name" /></Field>
          <fieldset className="radios">
            <legend>Virtual machine type</legend>
            <label><input type="radio" name="vmtype" checked={!gpu} onChange={() => setGpu(false)} /> CPU</label>
            <label><input type="radio" name="vmtype" checked={gpu} onChange={() => setGpu(true)} /> GPU</label>
          </fieldset>
          <SizePicker gpu={gpu} size={size} onSize={setSize} />
        </div>
      ) : (
        <div className="form">
          <section className="adv">
            <h3>Schedules</h3>
            <p className="hint">Start or stop the instance at a time of day, in a time zone.</p>
            {schedules.map((s, i) => (
              <div className="row" key={i} data-schedule={i}>
                <select aria-label="Action" value={s.action} onChange={(e) => setSchedules(schedules.map((x, j) => (j === i ? { ...x, action: e.target.value as any } : x)))}>
                  <option>Stop</option><option>Start</option>
                </select>
                <span>every day at</span>
                <input type="time" aria-label="Time" value={s.time} onChange={(e) => setSchedules(schedules.map((x, j) => (j === i ? { ...x, time: e.target.value } : x)))} />
                <input aria-label="Time zone" value={s.tz} onChange={(e) => setSchedules(schedules.map((x, j) => (j === i ? { ...x, tz: e.target.value } : x)))} />
                <Button onClick={() => setSchedules(schedules.filter((_, j) => j !== i))} aria-label="Remove schedule">✕</Button>
              </div>
            ))}
            <Button icon="+" onClick={() => setSchedules([...schedules, { action: "Stop", time: "18:00", tz }])}>Add schedule</Button>
          </section>
          <section className="adv">
            <label className="check-row"><input type="checkbox" checked={script !== null} onChange={(e) => setScript(e.target.checked ? "" : null)} /> Provision with setup script</label>
            {script !== null && <ScriptPicker value={script} onChange={setScript} />}
          </section>
          <section className="adv">
            <label className="check-row"><input type="checkbox" checked={ssh !== null} onChange={(e) => setSsh(e.target.checked ? "" : null)} /> Enable SSH access</label>
            {ssh !== null && (
              <Field label="SSH public key" hint="The line of your ~/.ssh/id_ed25519.pub (or id_rsa.pub); the user is azureuser.">
                <textarea rows={3} aria-label="SSH public key" value={ssh} onChange={(e) => setSsh(e.target.value)} placeholder="ssh-ed25519 AAAA… you@host" />
              </Field>
            )}
          </section>
          <section className="adv">
            <label className="check-row"><input type="checkbox" checked={subnet !== null} onChange={(e) => setSubnet(e.target.checked ? `/subscriptions/${w.sub}/resourceGroups/${w.rg}/providers/Microsoft.Network/virtualNetworks/vnet-${w.ws}/subnets/default` : null)} /> Enable virtual network</label>
            {subnet !== null && (
              <Field label="Subnet" hint="The instance gets a network of its own: it reaches this mlw server and nothing else.">
                <input aria-label="Subnet" value={subnet} onChange={(e) => setSubnet(e.target.value)} />
              </Field>
            )}
          </section>
          <section className="adv">
            <label className="check-row">
              <input type="checkbox" checked={assignee !== null} disabled={!me.isOwner} title={me.isOwner ? undefined : "Creating an instance for another user needs the Owner role."}
                onChange={(e) => setAssignee(e.target.checked ? "" : null)} /> Assign to another user
            </label>
            {!me.isOwner && <p className="hint">Creating an instance for another user needs the Owner role.</p>}
            {assignee !== null && (
              <Field label="User">
                <select value={assignee} onChange={(e) => setAssignee(e.target.value)} aria-label="User">
                  <option value="">Choose a user</option>
                  {(users.data ?? []).filter((u: any) => u.objectId !== me.user.objectId).map((u: any) => <option key={u.objectId} value={u.objectId}>{u.name} ({u.role})</option>)}
                </select>
              </Field>
            )}
          </section>
          <section className="adv">
            <Field label="Shut down after idle (minutes, 15 or more; empty: never)">
              <input type="number" min={15} value={idle} onChange={(e) => setIdle(e.target.value)} />
            </Field>
          </section>
        </div>
      )}
      <ErrorBox error={err} />
    </Dialog>
  );
}

// SizePicker is the size table of Azure ML Studio's create dialogs: vCPUs,
// memory, GPUs, hourly price and the quota left in the size's family.
function SizePicker({ gpu, size, onSize, lowPriority }: { gpu: boolean; size: string; onSize: (s: string) => void; lowPriority?: boolean }) {
  const w = useWorkspace();
  const { loc, sizes, usage } = useSizes(w);
  const [filter, setFilter] = useState("");
  const shown = (sizes.data ?? [])
    .filter((s: any) => (gpu ? s.gpus > 0 : !s.gpus))
    .filter((s: any) => !filter || s.name.toLowerCase().includes(filter.toLowerCase()));
  const tier = lowPriority ? "LowPriority" : "Standard";
  return (
    <>
          <Field label="Virtual machine size" hint={`Region ${loc}. Quota left is in vCPUs of the size's family.`}>
            <input type="search" placeholder="Search sizes" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Search sizes" />
          </Field>
          <ErrorBox error={sizes.error} />
          <div className="table-wrap sizes">
            <table className="grid" aria-label="Virtual machine sizes">
              <thead><tr><th className="check"><span className="sr">Choose</span></th><th>Name</th><th>vCPUs</th><th>RAM</th><th>GPUs</th><th>Cost</th><th>Quota left</th></tr></thead>
              <tbody>
                {shown.map((s: any) => {
                  const left = quotaLeft(usage.data, s.family);
                  const price = (s.estimatedVMPrices?.values?.find((v: any) => v.vmTier === tier) ?? s.estimatedVMPrices?.values?.find((v: any) => v.vmTier === "Standard"))?.retailPrice;
                  return (
                    <tr key={s.name} className={s.name.toLowerCase() === size.toLowerCase() ? "selected" : ""} onClick={() => onSize(s.name)} data-size={s.name}>
                      <td className="check"><input type="radio" name="size" aria-label={s.name} checked={s.name.toLowerCase() === size.toLowerCase()} onChange={() => onSize(s.name)} /></td>
                      <td>{s.name}</td><td>{s.vCPUs}</td><td>{s.memoryGB} GB</td><td>{s.gpus || 0}</td>
                      <td>{price != null ? `$${price.toFixed(2)}/hr` : ""}</td>
                      <td className={left != null && left < s.vCPUs ? "bad" : ""}>{left ?? ""}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {shown.length === 0 && <Empty title={gpu ? "No GPU sizes here" : "No sizes match"}>This mlw host offers the sizes its catalogue lists.</Empty>}
          </div>
    </>
  );
}

// ScriptPicker picks a shell script of the workspace file share.
function ScriptPicker({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const w = useWorkspace();
  const files = useQuery({ queryKey: ["files", wsPath(w), "scripts"], queryFn: () => getJSON(`${wsPath(w)}/files?recursive=true`).then((d) => d.value as any[]) });
  const scripts = (files.data ?? []).filter((f: any) => !f.isDirectory && /\.(sh|bash)$/i.test(f.path));
  return (
    <Field label="Setup script" hint="A script of the workspace files, run as azureuser when the instance is created.">
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label="Setup script">
        <option value="">Choose a script from the workspace files</option>
        {scripts.map((f: any) => <option key={f.path} value={f.path}>{f.path}</option>)}
      </select>
      {files.isSuccess && scripts.length === 0 && <span className="hint">No .sh files in the workspace yet: create one in Notebooks.</span>}
    </Field>
  );
}

export function ComputeDetails({ name }: { name: string }) {
  useTitle(name);
  const w = useWorkspace();
  const me = useSession();
  const reason = useWriteReason();
  const qc = useQueryClient();
  const path = `${wsPath(w)}/computes/${enc(name)}`;
  const q = useDoc(path);
  const logs = useQuery({ queryKey: ["compute-logs", path], enabled: isInstance(q.data), queryFn: () => getJSON(path + "/logs").then((d) => d.value as any[]), refetchInterval: 3000 });
  const [err, setErr] = useState<unknown>(null);
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/compute`;
  if (q.isPending) return <Spinner />;
  if (q.error) return <ErrorBox error={q.error} />;
  const c = q.data;
  const p = props(c);
  const state = computeState(c);
  const act = async (a: string) => {
    setErr(null);
    try {
      await send("POST", `${path}/${a}`);
    } catch (e) {
      setErr(e);
    }
    qc.invalidateQueries({ queryKey: ["doc", path] });
  };
  if (!isInstance(c)) return <ClusterDetails c={c} />;
  const mine = !p.mlw?.assignedUser || p.mlw.assignedUser.objectId === me.user.objectId;
  const appReason = state !== "Running" ? `The instance is ${state}; start it first.` : !mine ? `Only ${p.mlw?.assignedUser?.name} may open its applications.` : null;
  const jupyter = (p.applications ?? []).find((a: any) => a.displayName === "Jupyter");
  return (
    <section>
      <PageHeader title={name}>
        <Button icon="▶" reason={reason ?? (state === "Stopped" ? null : `The instance is ${state}.`)} onClick={() => act("start")}>Start</Button>
        <Button icon="■" reason={reason ?? (state === "Running" ? null : `The instance is ${state}.`)} onClick={() => act("stop")}>Stop</Button>
        <Button icon="⟳" reason={reason ?? (state === "Running" ? null : `The instance is ${state}.`)} onClick={() => act("restart")}>Restart</Button>
      </PageHeader>
      <ErrorBox error={err} />
      <div className="details">
        <dl className="props">
          <dt>State</dt><dd><Badge state={state} /> <Idle c={c} /></dd>
          <dt>Size</dt><dd>{p.vmSize}</dd>
          <dt>Assigned to</dt><dd>{p.mlw?.assignedUser?.name}</dd>
          <dt>Applications</dt>
          <dd className="apps">
            {jupyter && (appReason ? <span className="applink off" title={appReason}>Jupyter</span> : <a className="applink" href={jupyter.endpointUri} target="_blank" rel="noopener">Jupyter</a>)}
            {appReason ? <span className="applink off" title={appReason}>Terminal</span> : <Link className="applink" to={`${base}/${name}/terminal`}>Terminal</Link>}
          </dd>
          <dt>Schedules</dt><dd>{(p.schedules?.computeStartStop ?? []).map((s: any, i: number) => <div key={i}>{describeSchedule(s)}</div>)}{!(p.schedules?.computeStartStop ?? []).length && "None"}</dd>
          <dt>Idle shutdown</dt><dd>{p.idleTimeBeforeShutdown ?? "Off"}</dd>
          <dt>SSH</dt><dd>{p.sshSettings?.sshPublicAccess === "Enabled" ? `ssh -p ${p.sshSettings.sshPort ?? "…"} azureuser@${location.hostname}` : "Disabled"}</dd>
          <dt>Virtual network</dt><dd>{p.subnet?.id ?? "None"}{p.mlw?.network && <div className="hint">{p.mlw.network}</div>}</dd>
          <dt>Resources</dt><dd>{p.mlw?.limits}</dd>
          {p.errors?.length > 0 && (<><dt>Errors</dt><dd className="bad">{p.errors.map((e: any, i: number) => <div key={i}>{e?.error?.message ?? JSON.stringify(e)}</div>)}</dd></>)}
        </dl>
        <section className="panel" aria-label="Setup script logs">
          <h2>Setup scripts</h2>
          {(logs.data ?? []).length === 0 ? <Empty title="No setup script ran">Add one when you create an instance (Advanced settings).</Empty> :
            (logs.data ?? []).map((l: any, i: number) => (
              <details key={i} open>
                <summary>{l.name ?? l.script ?? "script"} {l.exitCode != null && <Badge state={l.exitCode === 0 ? "Succeeded" : "Failed"} />}</summary>
                <pre className="log">{l.log ?? l.content ?? JSON.stringify(l, null, 1)}</pre>
              </details>
            ))}
        </section>
      </div>
    </section>
  );
}

function Clusters() {
  const w = useWorkspace();
  const q = useComputes(w);
  const qc = useQueryClient();
  const reason = useWriteReason();
  const [creating, setCreating] = useState(false);
  const list = (q.data ?? []).filter((c: any) => c.properties?.computeType === "AmlCompute");
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/compute`;
  return (
    <>
      <div className="toolbar">
        <Button icon="+" primary reason={reason} onClick={() => setCreating(true)}>New</Button>
        <Button icon="↻" onClick={() => qc.invalidateQueries({ queryKey: ["computes"] })}>Refresh</Button>
      </div>
      <ErrorBox error={q.error} />
      {creating && <NewCluster onClose={() => setCreating(false)} />}
      {q.isPending ? <Spinner /> : list.length === 0 ? (
        <Empty title="No compute clusters">Clusters scale nodes up for jobs and back down when idle. Select <strong>New</strong> to create one (or use <code>mlw compute create --type AmlCompute</code>, or the SDK).</Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Compute clusters">
            <thead><tr><th>Name</th><th>State</th><th>Size</th><th>Tier</th><th>Nodes</th><th>Node states</th><th>Min / max</th><th>Idle before scale down</th></tr></thead>
            <tbody>
              {list.map((c: any) => {
                const p = props(c);
                const counts = p.nodeStateCounts ?? {};
                return (
                  <tr key={c.id} data-compute={c.name}>
                    <td><Link to={`${base}/${c.name}`}>{c.name}</Link></td>
                    <td><Badge state={computeState(c)} /></td>
                    <td>{p.vmSize}</td>
                    <td>{p.vmPriority === "LowPriority" ? "Low priority" : "Dedicated"}</td>
                    <td>{p.currentNodeCount ?? 0}</td>
                    <td>{Object.entries(counts).filter(([, v]) => (v as number) > 0).map(([k, v]) => `${v} ${k.replace(/NodeCount$/, "")}`).join(", ") || "—"}</td>
                    <td>{p.scaleSettings?.minNodeCount ?? 0} / {p.scaleSettings?.maxNodeCount ?? 0}</td>
                    <td>{idleWords(p.scaleSettings?.nodeIdleTimeBeforeScaleDown)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function idleWords(iso: string | undefined): string {
  const n = isoSeconds(iso);
  return n == null ? (iso ?? "") : duration(n * 1000).replace(/ 0s$/, "").replace(/ 0m$/, "");
}

// NewCluster is Azure ML Studio's "Create compute cluster": tier, VM type
// and size, then name and scale settings (min/max nodes, idle time).
function NewCluster({ onClose }: { onClose: () => void }) {
  const w = useWorkspace();
  const qc = useQueryClient();
  const { loc } = useSizes(w);
  const [gpu, setGpu] = useState(false);
  const [f, setF] = useState<ClusterForm>({ name: "", size: "Standard_DS11_v2", tier: "Dedicated", min: "0", max: "2", idleSeconds: "120" });
  const [tried, setTried] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof ClusterForm) => (v: string) => setF({ ...f, [k]: v });
  const req = clusterRequest(f, loc);
  const shown = (k: keyof ClusterForm) => (tried || (k !== "name" && f[k] !== "") || (k === "name" && f.name !== "") ? req.errors[k] : null);
  const create = async () => {
    setTried(true);
    if (!req.body) return;
    setBusy(true);
    setErr(null);
    try {
      await send("PUT", `${wsPath(w)}/computes/${enc(f.name)}`, req.body);
      qc.invalidateQueries({ queryKey: ["computes"] });
      onClose();
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  const footer = (
    <>
      <Button onClick={onClose}>Cancel</Button>
      <Button primary onClick={create} disabled={busy}>{busy ? "Creating…" : "Create"}</Button>
    </>
  );
  return (
    <Dialog title="Create compute cluster" onClose={onClose} footer={footer} wide>
      <div className="form">
        <div className="row wrap">
          <Field label="Compute name" error={shown("name")}><input value={f.name} onChange={(e) => set("name")(e.target.value)} placeholder="aml-cluster" aria-label="Compute name" /></Field>
        </div>
        <fieldset className="radios">
          <legend>Virtual machine tier</legend>
          <label><input type="radio" name="tier" checked={f.tier === "Dedicated"} onChange={() => set("tier")("Dedicated")} /> Dedicated</label>
          <label><input type="radio" name="tier" checked={f.tier === "LowPriority"} onChange={() => set("tier")("LowPriority")} /> Low priority</label>
        </fieldset>
        {f.tier === "LowPriority" && <p className="hint">Low-priority nodes cost less and may be preempted; a preempted job runs again on another node, and the cluster's page keeps the history.</p>}
        <fieldset className="radios">
          <legend>Virtual machine type</legend>
          <label><input type="radio" name="cvmtype" checked={!gpu} onChange={() => setGpu(false)} /> CPU</label>
          <label><input type="radio" name="cvmtype" checked={gpu} onChange={() => setGpu(true)} /> GPU</label>
        </fieldset>
        <SizePicker gpu={gpu} size={f.size} onSize={set("size")} lowPriority={f.tier === "LowPriority"} />
        {shown("size") && <span className="field-error" role="alert">{req.errors.size}</span>}
        <h3>Scale</h3>
        <div className="fields">
          <Field label="Minimum number of nodes" error={shown("min")} hint="0 lets the cluster scale to nothing when idle.">
            <input type="number" min={0} value={f.min} onChange={(e) => set("min")(e.target.value)} />
          </Field>
          <Field label="Maximum number of nodes" error={shown("max")}>
            <input type="number" min={1} value={f.max} onChange={(e) => set("max")(e.target.value)} />
          </Field>
          <Field label="Idle seconds before scale down" error={shown("idleSeconds")}>
            <input type="number" min={0} value={f.idleSeconds} onChange={(e) => set("idleSeconds")(e.target.value)} />
          </Field>
        </div>
      </div>
      <ErrorBox error={err} />
    </Dialog>
  );
}

function ClusterDetails({ c }: { c: any }) {
  const w = useWorkspace();
  const reason = useWriteReason();
  const qc = useQueryClient();
  const p = props(c);
  const [min, setMin] = useState(String(p.scaleSettings?.minNodeCount ?? 0));
  const [max, setMax] = useState(String(p.scaleSettings?.maxNodeCount ?? 1));
  const [idle, setIdle] = useState(String(p.scaleSettings?.nodeIdleTimeBeforeScaleDown ?? "PT120S"));
  const [err, setErr] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const path = `${wsPath(w)}/computes/${enc(c.name)}`;
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}`;
  const lowPriority = p.vmPriority === "LowPriority";
  const nodes = useQuery({ queryKey: ["nodes", path], queryFn: () => send("POST", path + "/listNodes").then((d: any) => d?.nodes ?? []), refetchInterval: 3000 });
  // The cluster's jobs (newest first): the list below and, from their
  // attempts, the preemption history.
  const jobs = useQuery({ queryKey: ["cluster-jobs", path], queryFn: () => listAll(`${wsPath(w)}/jobs?compute=${enc(c.name)}&$top=100`, 500), refetchInterval: 5000 });
  const history = useMemo(() => preemptions(jobs.data ?? []), [jobs.data]);
  const preemptedNodes = (nodes.data ?? []).filter((n: any) => n.nodeState === "preempted");
  const save = async () => {
    setErr(null);
    setSaved(false);
    try {
      await send("PATCH", path, { properties: { properties: { scaleSettings: { minNodeCount: +min, maxNodeCount: +max, nodeIdleTimeBeforeScaleDown: idle } } } });
      setSaved(true);
      qc.invalidateQueries({ queryKey: ["doc", path] });
    } catch (e) {
      setErr(e);
    }
  };
  const preempt = async (id: string) => {
    setErr(null);
    try {
      await send("POST", `${path}/preemptNode?nodeId=${enc(id)}`);
      qc.invalidateQueries({ queryKey: ["nodes", path] });
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <section>
      <PageHeader title={c.name}>
        <Button reason={reason} onClick={() => setDeleting(true)}>Delete</Button>
      </PageHeader>
      <dl className="props">
        <dt>State</dt><dd><Badge state={computeState(c)} /> {p.scaleReason ?? ""}</dd>
        <dt>Size</dt><dd>{p.vmSize}</dd>
        <dt>Tier</dt><dd>{lowPriority ? "Low priority (nodes may be preempted)" : "Dedicated"}</dd>
        <dt>Nodes</dt><dd>{p.currentNodeCount ?? 0} of at most {p.scaleSettings?.maxNodeCount ?? 0}</dd>
        {p.queueReason && (<><dt>Queued jobs</dt><dd>{p.queueReason}</dd></>)}
        {(p.errors ?? []).length > 0 && (<><dt>Errors</dt><dd className="bad">{p.errors.map((e: any, i: number) => <div key={i}>{e?.error?.message ?? JSON.stringify(e)}</div>)}</dd></>)}
      </dl>
      <section className="panel" aria-label="Scale settings">
        <h2>Scale settings</h2>
        <div className="fields">
          <Field label="Minimum nodes"><input type="number" min={0} value={min} onChange={(e) => { setMin(e.target.value); setSaved(false); }} disabled={!!reason} /></Field>
          <Field label="Maximum nodes"><input type="number" min={1} value={max} onChange={(e) => { setMax(e.target.value); setSaved(false); }} disabled={!!reason} /></Field>
          <Field label="Idle before scale down" hint={idleWords(idle)}><input value={idle} onChange={(e) => { setIdle(e.target.value); setSaved(false); }} disabled={!!reason} /></Field>
        </div>
        <div className="row">
          <Button primary reason={reason} onClick={save}>Save</Button>
          {saved && <span role="status" data-saved>Saved.</span>}
        </div>
        <ErrorBox error={err} />
      </section>
      <section className="panel" aria-label="Nodes">
        <h2>Nodes</h2>
        {(nodes.data ?? []).length === 0 ? <Empty title="No nodes">The cluster is at its minimum; nodes come when jobs are queued.</Empty> : (
          <div className="table-wrap">
            <table className="grid"><thead><tr><th>Node</th><th>State</th><th>Job</th><th><span className="sr">Actions</span></th></tr></thead>
              <tbody>{(nodes.data ?? []).map((n: any) => (
                <tr key={n.nodeId} data-node={n.nodeId}><td>{n.nodeId}</td><td><Badge state={n.nodeState} /></td>
                  <td>{n.runId ? <Link to={`${base}/jobs/${n.runId}`}>{n.runId}</Link> : ""}</td>
                  <td>{lowPriority && n.nodeState !== "preempted" && <Button reason={reason} onClick={() => preempt(n.nodeId)}>Preempt</Button>}</td></tr>
              ))}</tbody></table>
          </div>
        )}
      </section>
      <section className="panel" aria-label="Preemptions">
        <h2>Preemptions</h2>
        {preemptedNodes.length > 0 && <p role="status">Preempted now, leaving: {preemptedNodes.map((n: any) => n.nodeId).join(", ")}.</p>}
        {history.length === 0 ? (
          <Empty title="No preemptions">{lowPriority ? "No job of this cluster has lost a node to preemption." : "Dedicated nodes are never preempted; low-priority clusters' are."}</Empty>
        ) : (
          <div className="table-wrap">
            <table className="grid" aria-label="Preemption history">
              <thead><tr><th>When</th><th>Job</th><th>Attempt</th><th>Node</th><th>Ran for</th><th>Then</th></tr></thead>
              <tbody>{history.map((h) => (
                <tr key={h.job + "/" + h.attempt} data-preemption={h.job}>
                  <td title={h.end}>{new Date(h.end).toLocaleString()}</td>
                  <td><Link to={`${base}/jobs/${h.job}`}>{h.displayName}</Link></td>
                  <td>{h.attempt}</td>
                  <td>{h.nodes.join(", ")}</td>
                  <td>{shortDuration(Date.parse(h.end) - Date.parse(h.start))}</td>
                  <td>{h.requeued ? "Requeued for another attempt" : <span className="bad">The job failed: too many attempts</span>}</td>
                </tr>
              ))}</tbody>
            </table>
          </div>
        )}
      </section>
      <section className="panel" aria-label="Jobs on this cluster">
        <h2>Jobs</h2>
        {(jobs.data ?? []).length === 0 ? <Empty title="No jobs on this cluster" /> : (
          <ul className="joblist">{(jobs.data ?? []).slice(0, 20).map((j: any) => <li key={j.name}><Link to={`${base}/jobs/${j.name}`}>{j.properties?.displayName ?? j.name}</Link> <Badge state={j.properties?.status} /> <span className="hint">{ago(j.systemData?.createdAt)}</span></li>)}</ul>
        )}
      </section>
      {deleting && (
        <TypedDelete kind="compute cluster" name={c.name} path={path} warning="Its nodes go, and its queued and running jobs are canceled."
          onClose={() => setDeleting(false)} onDone={() => { setDeleting(false); qc.invalidateQueries({ queryKey: ["computes"] }); navigate(`${base}/compute?tab=clusters`); }} />
      )}
    </section>
  );
}

function Quota() {
  const w = useWorkspace();
  const { loc, usage } = useSizes(w);
  const rows = useMemo(() => (usage.data ?? []).filter((u: any) => u.limit > 0), [usage.data]);
  return (
    <>
      <ErrorBox error={usage.error} />
      <p className="hint">vCPU quota per VM family in {loc}; Owners change it with <code>mlw</code> or the updateQuotas API.</p>
      {usage.isPending ? <Spinner /> : rows.length === 0 ? <Empty title="No quota set">This region has no vCPU quota for any VM family; an Owner sets one with the updateQuotas API.</Empty> : (
        <div className="table-wrap">
          <table className="grid" aria-label="Quota">
            <thead><tr><th>VM family</th><th>Used</th><th>Limit</th><th>Usage</th></tr></thead>
            <tbody>
              {rows.map((u: any) => (
                <tr key={u.id}><td>{u.name?.localizedValue ?? u.name?.value}</td><td>{u.currentValue}</td><td>{u.limit}</td>
                  <td><meter min={0} max={u.limit} value={u.currentValue} aria-label={`${u.currentValue} of ${u.limit}`} /></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
