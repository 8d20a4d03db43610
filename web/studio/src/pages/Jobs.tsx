import { lazy, Suspense, useEffect, useRef, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { enc, encPath, getJSON, request, sameOrigin, send, withVersion, wsPath } from "../lib/api";
import { live, useDoc } from "../lib/queries";
import { navigate, useLocation, useTitle } from "../lib/router";
import { ago, duration, isMoving, resubmitName, resubmitProperties } from "../lib/util";
import { useWorkspace, useWriteReason } from "../session";
import { Timeline } from "../Timeline";
import { Badge, Button, Empty, ErrorBox, Field, Link, PageHeader, Spinner, Tabs } from "../ui";

const JobCode = lazy(() => import("./JobFiles").then((m) => ({ default: m.JobCode })));
const JobOutputs = lazy(() => import("./JobFiles").then((m) => ({ default: m.JobOutputs })));
const JobMetrics = lazy(() => import("./Metrics").then((m) => ({ default: m.JobMetrics })));

const pageSize = 50;
const statuses = ["", "NotStarted", "Queued", "Preparing", "Running", "Finalizing", "Completed", "Failed", "Canceled"];

function jobDuration(j: any, now = Date.now()): string {
  const m = j.properties?.mlw;
  const start = m?.startTime ? Date.parse(m.startTime) : NaN;
  if (isNaN(start)) return "";
  const end = m?.endTime ? Date.parse(m.endTime) : now;
  return duration(end - start);
}

function computeName(j: any): string {
  const id: string = j.properties?.computeId ?? "";
  return id.split("/").pop() ?? "";
}

// Jobs: the workspace's jobs, newest first, a page at a time (the API's
// $top and nextLink), searched (mlwSearch: name or display name) and
// filtered by status and experiment on the server, over the whole history.
export function Jobs() {
  useTitle("Jobs");
  const w = useWorkspace();
  const { query } = useLocation();
  const tab = query.get("tab") === "experiments" ? "experiments" : "jobs";
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/jobs`;
  return (
    <section>
      <PageHeader title="Jobs" />
      <Tabs tabs={[{ id: "jobs", label: "All jobs" }, { id: "experiments", label: "All experiments" }]} current={tab}
        onChange={(t) => navigate(base + (t === "experiments" ? "?tab=experiments" : ""), true)} />
      {tab === "experiments" ? <Experiments /> : <JobsTable />}
    </section>
  );
}

// Experiments: the workspace's jobs grouped by experimentName (run
// history's experiment list), each linking to the jobs table filtered by it.
function Experiments() {
  const w = useWorkspace();
  const q = useExperiments(true);
  const [search, setSearch] = useState("");
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/jobs`;
  const rows = (q.data ?? []).filter((e) => !search.trim() || String(e.name).toLowerCase().includes(search.trim().toLowerCase()));
  return (
    <>
      <div className="filters row wrap">
        <Field label="Search"><input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Experiment name" aria-label="Search experiments" /></Field>
        <Button icon="↻" onClick={() => q.refetch()}>Refresh</Button>
      </div>
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : rows.length === 0 ? (
        <Empty title={search ? "No experiments match" : "No experiments yet"}>
          {search ? "Change the search." : <>An experiment groups jobs by their <code>experiment_name</code>; it appears with the first job submitted to it.</>}
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Experiments">
            <thead><tr><th>Experiment</th><th>Jobs</th><th>By status</th><th>Latest job</th><th>Last submitted</th><th>Created</th><th><span className="sr">Compare</span></th></tr></thead>
            <tbody>
              {rows.map((e: any) => (
                <tr key={e.experimentId} data-experiment={e.name}>
                  <td><Link to={`${base}?experiment=${enc(e.name)}`}>{e.name}</Link></td>
                  <td>{e.mlw?.jobs}</td>
                  <td><span className="counts">{Object.entries(e.mlw?.statusCounts ?? {}).sort().map(([k, v]) => <span key={k} className="count"><Badge state={k} /> {String(v)}</span>)}</span></td>
                  <td><Link to={`${base}/${e.latestCreatedRunId}`}>{e.latestCreatedRunId}</Link> <Badge state={e.mlw?.latestRunStatus} /></td>
                  <td title={e.latestCreatedRunCreatedUtc}>{ago(e.latestCreatedRunCreatedUtc)}</td>
                  <td title={e.createdUtc}>{ago(e.createdUtc)}</td>
                  <td><Link to={`/ws/${w.sub}/${w.rg}/${w.ws}/compare?experiment=${enc(e.name)}`} aria-label={`Compare the runs of ${e.name}`}>⇄ Compare runs</Link></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

// useExperiments is run history's experiment list (the Experiment filter's
// choices and the All experiments tab).
function useExperiments(follow = false) {
  const w = useWorkspace();
  const path = `/history/v1.0${wsPath(w)}/experiments`;
  return useQuery({
    queryKey: ["experiments", path],
    queryFn: () => getJSON(path).then((d) => d.value as any[]),
    refetchInterval: follow ? live((d: any[]) => d.map((e) => e.mlw?.latestRunStatus)) : false,
    staleTime: follow ? 0 : 30_000,
  });
}

// compareReason says why Compare is off, if it is: 2 to 10 jobs compare.
export function compareReason(n: number): string | null {
  if (n < 2) return "Select two or more jobs to compare their metrics and parameters.";
  if (n > 10) return "Compare at most 10 jobs at once.";
  return null;
}

function JobsTable() {
  const w = useWorkspace();
  const { query } = useLocation();
  const status = query.get("status") ?? "";
  const experiment = query.get("experiment") ?? "";
  const search = query.get("search") ?? "";
  const [typed, setTyped] = useState(search);
  const [pages, setPages] = useState<string[]>([]);
  // Jobs chosen to compare, kept across pages and filters.
  const [chosen, setChosen] = useState<string[]>([]);
  const toggle = (n: string) => setChosen((c) => (c.includes(n) ? c.filter((x) => x !== n) : [...c, n]));
  const experiments = useExperiments();
  const first = `${wsPath(w)}/jobs?$top=${pageSize}${status ? "&status=" + enc(status) : ""}${experiment ? "&experimentName=" + enc(experiment) : ""}${search ? "&mlwSearch=" + enc(search) : ""}`;
  const link = pages.length ? pages[pages.length - 1] : withVersion(first);
  useEffect(() => setPages([]), [first]);
  const q = useQuery({
    queryKey: ["jobs", link],
    queryFn: () => request("GET", link).then((r) => r.json()),
    refetchInterval: live((d) => d.value.map((j: any) => j.properties?.status)),
    placeholderData: (prev) => prev,
  });
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/jobs`;
  // setFilter changes one filter in the address (the page reads them from
  // there), reading the address as it is now: a search typed while another
  // filter changed keeps both.
  const setFilter = (k: string, v: string) => {
    const p = new URLSearchParams(location.search);
    if (v) p.set(k, v);
    else p.delete(k);
    navigate(base + (p.toString() ? "?" + p : ""), true);
  };
  // What is typed in Search goes to the server once typing pauses, not at
  // each keystroke. The box follows the address when it changes otherwise
  // (back, forward, a link), not when it changes because of what is typed:
  // that would drop a space typed after a pause.
  const pushed = useRef(search);
  const pushSearch = (v: string) => {
    pushed.current = v;
    setFilter("search", v);
  };
  useEffect(() => {
    if (search === pushed.current) return;
    pushed.current = search;
    setTyped(search);
  }, [search]);
  useEffect(() => {
    if (typed.trim() === search) return;
    const t = setTimeout(() => pushSearch(typed.trim()), 300);
    return () => clearTimeout(t);
  }, [typed, search]);
  const names: string[] = (experiments.data ?? []).map((e: any) => String(e.name)).sort((a, b) => a.localeCompare(b));
  if (experiment && !names.some((n) => n.toLowerCase() === experiment.toLowerCase())) names.unshift(experiment);
  const rows: any[] = q.data?.value ?? [];
  const filtered = !!(search || status || experiment);
  return (
    <>
      <div className="filters row wrap">
        <Field label="Search"><input type="search" value={typed} onChange={(e) => setTyped(e.target.value)} onKeyDown={(e) => e.key === "Enter" && pushSearch(typed.trim())} placeholder="Name or display name" aria-label="Search jobs" /></Field>
        <Field label="Status">
          <select value={status} onChange={(e) => setFilter("status", e.target.value)} aria-label="Status">
            {statuses.map((s) => <option key={s} value={s}>{s || "All"}</option>)}
          </select>
        </Field>
        <Field label="Experiment">
          <select value={names.find((n) => n.toLowerCase() === experiment.toLowerCase()) ?? ""} onChange={(e) => setFilter("experiment", e.target.value)} aria-label="Experiment">
            <option value="">All experiments</option>
            {names.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </Field>
        <Button icon="↻" onClick={() => q.refetch()}>Refresh</Button>
        <Button icon="⇄" reason={compareReason(chosen.length)} onClick={() => navigate(`/ws/${w.sub}/${w.rg}/${w.ws}/compare?runs=${chosen.map(enc).join(",")}`)}>
          Compare{chosen.length ? ` (${chosen.length})` : ""}
        </Button>
        {chosen.length > 0 && <Button className="ghost" onClick={() => setChosen([])}>Clear selection</Button>}
      </div>
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : rows.length === 0 ? (
        <Empty title={filtered ? "No jobs match" : "No jobs yet"}>
          {filtered ? "No job in the workspace's whole history matches: change the search or the filters." : <>Submit one from a notebook with the SDK (<code>ml_client.create_or_update(command(...))</code>) or with <code>mlw job create --file job.yml</code>.</>}
        </Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Jobs">
            <thead><tr><th className="check"><span className="sr">Select to compare</span></th><th>Display name</th><th>Status</th><th>Experiment</th><th>Compute</th><th>Created</th><th>Duration</th><th>Created by</th></tr></thead>
            <tbody>
              {rows.map((j: any) => (
                <tr key={j.name} data-job={j.name} className={chosen.includes(j.name) ? "selected" : ""}>
                  <td className="check"><input type="checkbox" checked={chosen.includes(j.name)} onChange={() => toggle(j.name)} aria-label={`Select ${j.properties?.displayName || j.name} to compare`} /></td>
                  <td><Link to={`${base}/${j.name}`}>{j.properties?.displayName || j.name}</Link></td>
                  <td><Badge state={j.properties?.status} /></td>
                  <td><button type="button" className="linklike" onClick={() => setFilter("experiment", j.properties?.experimentName ?? "")}>{j.properties?.experimentName}</button></td>
                  <td>{computeName(j) && <Link to={`/ws/${w.sub}/${w.rg}/${w.ws}/compute/${computeName(j)}`}>{computeName(j)}</Link>}</td>
                  <td title={j.systemData?.createdAt}>{ago(j.systemData?.createdAt)}</td>
                  <td>{jobDuration(j)}</td>
                  <td>{j.systemData?.createdBy}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager row" aria-label="Pages">
        <Button reason={pages.length ? null : "This is the first page."} onClick={() => setPages(pages.slice(0, -1))}>‹ Previous</Button>
        <span>Page {pages.length + 1}</span>
        <Button reason={q.data?.nextLink ? null : "This is the last page."} onClick={() => setPages([...pages, sameOrigin(q.data.nextLink)])}>Next ›</Button>
      </nav>
    </>
  );
}

const jobTabs = [{ id: "overview", label: "Overview" }, { id: "metrics", label: "Metrics" }, { id: "logs", label: "Outputs + logs" }, { id: "code", label: "Code" }];

export function JobPage({ name }: { name: string }) {
  useTitle(name);
  const w = useWorkspace();
  const reason = useWriteReason();
  const qc = useQueryClient();
  const path = `${wsPath(w)}/jobs/${enc(name)}`;
  const q = useDoc(path);
  // The tab is in the address (?tab=metrics), so that a link opens it.
  const { query } = useLocation();
  const tab = jobTabs.some((t) => t.id === query.get("tab")) ? query.get("tab")! : "overview";
  const setTab = (t: string) => navigate(`/ws/${w.sub}/${w.rg}/${w.ws}/jobs/${name}${t === "overview" ? "" : "?tab=" + t}`, true);
  const [err, setErr] = useState<unknown>(null);
  if (q.isPending) return <Spinner />;
  if (q.error) return <ErrorBox error={q.error} />;
  const j = q.data;
  const p = j.properties ?? {};
  const running = isMoving(p.status);
  const cancel = async () => {
    setErr(null);
    try {
      await send("POST", path + "/cancel");
      qc.invalidateQueries({ queryKey: ["doc", path] });
    } catch (e) {
      setErr(e);
    }
  };
  // Re-submit: the same job under a new name; the server fills its own
  // output paths (resubmitProperties drops those it filled for this one).
  const resubmit = async () => {
    setErr(null);
    const n = resubmitName(name);
    try {
      await send("PUT", `${wsPath(w)}/jobs/${enc(n)}`, { properties: resubmitProperties(j) });
      navigate(`/ws/${w.sub}/${w.rg}/${w.ws}/jobs/${n}`);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <section>
      <PageHeader title={p.displayName || name}>
        <Badge state={p.status} />
        <Button icon="■" reason={reason ?? (running ? null : `The job is ${p.status}.`)} onClick={cancel}>Cancel</Button>
        <Button icon="⟲" reason={reason} onClick={resubmit}>Re-submit</Button>
      </PageHeader>
      {p.mlw?.reason && <div className="notice" role="status">{p.mlw.reason}</div>}
      <ErrorBox error={err} />
      <Tabs tabs={jobTabs} current={tab} onChange={setTab} />
      {tab === "overview" ? <Overview j={j} /> : tab === "metrics" ? (
        <Suspense fallback={<Spinner />}><JobMetrics job={j} /></Suspense>
      ) : tab === "code" ? (
        <Suspense fallback={<Spinner />}><JobCode job={j} /></Suspense>
      ) : (
        <>
          <Logs name={name} status={p.status} />
          <Suspense fallback={<Spinner />}><JobOutputs job={j} /></Suspense>
        </>
      )}
    </section>
  );
}

function Overview({ j }: { j: any }) {
  const w = useWorkspace();
  const p = j.properties ?? {};
  const m = p.mlw ?? {};
  return (
    <div className="details">
      <dl className="props">
        <dt>Name</dt><dd>{j.name}</dd>
        <dt>Experiment</dt><dd><Link to={`/ws/${w.sub}/${w.rg}/${w.ws}/jobs?experiment=${enc(p.experimentName ?? "")}`}>{p.experimentName}</Link></dd>
        <dt>Compute</dt><dd><Link to={`/ws/${w.sub}/${w.rg}/${w.ws}/compute/${computeName(j)}`}>{computeName(j)}</Link></dd>
        <dt>Created by</dt><dd>{j.systemData?.createdBy} {ago(j.systemData?.createdAt)}</dd>
        <dt>Duration</dt><dd>{jobDuration(j)}</dd>
        <dt>Environment</dt><dd>{p.environmentId}{m.environment && <div className="hint">{m.environment} {m.python}</div>}</dd>
        <dt>Command</dt><dd><pre className="cmd">{p.command}</pre></dd>
        {p.inputs && Object.keys(p.inputs).length > 0 && (<><dt>Inputs</dt><dd>{Object.entries(p.inputs).map(([k, v]: any) => <div key={k}><code>{k}</code>: {v?.uri ?? v?.value ?? JSON.stringify(v)}</div>)}</dd></>)}
        {p.outputs && (<><dt>Outputs</dt><dd>{Object.entries(p.outputs).map(([k, v]: any) => <div key={k}><code>{k}</code>: {v?.uri ?? ""}</div>)}</dd></>)}
        {m.exitCode != null && (<><dt>Exit code</dt><dd>{m.exitCode}</dd></>)}
        {m.error && (<><dt>Error</dt><dd className="bad">{m.error.message ?? JSON.stringify(m.error)}</dd></>)}
      </dl>
      <section className="panel timeline-panel" aria-label="Status timeline">
        <h2>Status timeline</h2>
        <Timeline phases={m.phases ?? []} reason={m.reason} attempts={m.attempts} />
      </section>
    </div>
  );
}

// Logs lists the job's log files and follows the chosen one while the job
// runs: the API's log stream (?follow=true) read chunk by chunk.
function Logs({ name, status }: { name: string; status: string }) {
  const w = useWorkspace();
  const path = `${wsPath(w)}/jobs/${enc(name)}/logs`;
  const files = useQuery({ queryKey: ["joblogs", path], queryFn: () => getJSON(path).then((d) => d.value as { name: string; size: number }[]), refetchInterval: isMoving(status) ? 2000 : false });
  const [file, setFile] = useState("user_logs/std_log.txt");
  const [text, setText] = useState("");
  const [err, setErr] = useState<unknown>(null);
  const [following, setFollowing] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const ctl = new AbortController();
    setText("");
    setErr(null);
    setFollowing(true);
    (async () => {
      try {
        const res = await request("GET", withVersion(`${path}/${encPath(file)}?follow=true`), undefined, { signal: ctl.signal });
        const rd = res.body!.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { done, value } = await rd.read();
          if (done) break;
          const chunk = dec.decode(value, { stream: true });
          setText((t) => t + chunk);
        }
      } catch (e: any) {
        if (e?.name !== "AbortError") setErr(e);
      } finally {
        setFollowing(false);
      }
    })();
    return () => ctl.abort();
  }, [path, file]);
  useEffect(() => {
    const el = pre.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [text]);
  const list = files.data ?? [];
  return (
    <div className="logs">
      <aside aria-label="Log files">
        <ul className="loglist">
          {(list.some((f) => f.name === file) ? list : [{ name: file, size: 0 }, ...list]).map((f) => (
            <li key={f.name}>
              <button type="button" className={f.name === file ? "linklike active" : "linklike"} onClick={() => setFile(f.name)}>{f.name}</button>
              <a className="hint" href={withVersion(`${path}/${encPath(f.name)}`)} download={f.name.split("/").pop()} aria-label={`Download ${f.name}`}>⤓</a>
            </li>
          ))}
        </ul>
      </aside>
      <div className="logview">
        <div className="row"><strong>{file}</strong> <span role="status" className="hint" data-following={following}>{following ? "Following the log live…" : "End of log."}</span></div>
        <ErrorBox error={err} />
        <pre className="log" ref={pre} aria-label="Log" data-log={file} onScroll={(e) => { const el = e.currentTarget; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40; }}>{text}</pre>
      </div>
    </div>
  );
}
