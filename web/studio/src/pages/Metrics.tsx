// A job's Metrics tab and the compare page: what a job's script logged
// with MLflow (the job is a run whose id is its name), read from the
// workspace's MLflow API with the studio session. A run's latest values
// (runs/get) say which metrics exist and when one moved; each metric's
// history comes from get-history-bulk-interval, sampled on the server to
// maxPoints per run.
import { useEffect, useMemo, useRef, useState } from "react";
import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, enc, getJSON, send, wsPath, type Workspace } from "../lib/api";
import {
  colorOf, compareRows, formatValue, historyPath, isRunning, isScalar, jobStatusOf, latest, metricKeys, mlflowApi, parseRuns, runLabel, runPath,
  seriesByRun, stampOf, type CompareRow, type Point, type WireRun,
} from "../lib/metrics";
import { fallbackPoll, useWatch } from "../lib/queries";
import { navigate, useLocation, useTitle } from "../lib/router";
import { ago, duration, isMoving } from "../lib/util";
import { MetricChart, type ChartSeries } from "../MetricChart";
import { useWorkspace } from "../session";
import { Badge, Button, Empty, ErrorBox, Field, Link, PageHeader, Spinner } from "../ui";

// maxCompared is how many runs one comparison overlays (one colour each).
const maxCompared = 10;

function clientError(e: unknown): boolean {
  return e instanceof ApiError && e.status < 500;
}

function fetchRun(path: string): Promise<WireRun> {
  return getJSON(path).then((d) => d.run as WireRun);
}

// useRun is one run, followed live (the studio's watch) while follow, and
// read once more when following stops (the job ended meanwhile).
function useRun(run: string, follow: boolean) {
  const w = useWorkspace();
  const qc = useQueryClient();
  const path = runPath(w, run);
  useWatch(follow ? path : null, ["mlflow-run", path]);
  const followed = useRef(follow);
  useEffect(() => {
    if (followed.current && !follow) void qc.invalidateQueries({ queryKey: ["mlflow-run", path] });
    followed.current = follow;
  }, [follow, path, qc]);
  return useQuery({
    queryKey: ["mlflow-run", path],
    queryFn: () => fetchRun(path),
    refetchInterval: follow ? fallbackPoll : false,
    retry: (n, e) => !clientError(e) && n < 2,
  });
}

// useHistories is each key's history over the runs, fetched again when
// the key's latest point (stamp) moves.
function useHistories(w: Workspace, runs: WireRun[], keys: string[]) {
  const qc = useQueryClient();
  const ids = runs.map((r) => r.info.run_id);
  const base = ["mlflow-history", wsPath(w), ids.join(",")];
  const stamps = Object.fromEntries(keys.map((k) => [k, stampOf(runs, k)]));
  const seen = useRef<Record<string, string>>({});
  const stampsKey = JSON.stringify([base, stamps]);
  useEffect(() => {
    for (const k of keys) {
      const before = seen.current[k];
      if (before !== undefined && before !== stamps[k]) void qc.invalidateQueries({ queryKey: [...base, k] });
    }
    seen.current = stamps;
  }, [stampsKey]);
  return useQueries({
    queries: keys.map((k) => ({
      queryKey: [...base, k],
      enabled: ids.length > 0,
      queryFn: () => getJSON(historyPath(w, ids, k)).then((d) => seriesByRun(d.metrics ?? [])),
      placeholderData: (prev: Map<string, Point[]> | undefined) => prev,
    })),
  });
}

// HowToLog says how a script logs a metric into its job.
function HowToLog() {
  return (
    <div className="howto">
      <p>Log one from the job's script with MLflow; the job's processes have <code>MLFLOW_TRACKING_URI</code> and <code>MLFLOW_RUN_ID</code> set, so it lands on this job:</p>
      <pre className="cmd">{`import mlflow\nfor epoch in range(10):\n    mlflow.log_metric("loss", loss, step=epoch)`}</pre>
    </div>
  );
}

// ScalarTable lists metrics that have one value (one point) per run.
function ScalarTable({ keys, runs }: { keys: string[]; runs: WireRun[] }) {
  const r = runs[0];
  const pts = new Map(latest(r).map((m) => [m.key, m.point]));
  return (
    <section className="panel scalars" aria-label="Single values">
      <h2>Single values</h2>
      <table className="grid" aria-label="Single values">
        <thead><tr><th>Metric</th><th>Value</th><th>Logged</th></tr></thead>
        <tbody>
          {keys.map((k) => {
            const p = pts.get(k);
            return (
              <tr key={k} data-metric={k}>
                <td>{k}</td>
                <td className="num">{p ? formatValue(p.value) : "—"}</td>
                <td className="hint" title={p ? new Date(p.time).toISOString() : ""}>{p ? ago(new Date(p.time).toISOString()) : ""}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

// useCharts are the histories of keys over runs, a chart's series each;
// scalar says a metric has one point per run (a table's row, no chart).
function useCharts(w: Workspace, runs: WireRun[], keys: string[], label = runLabel) {
  const hs = useHistories(w, runs, keys);
  return keys.map((k, i) => {
    const h = hs[i];
    // A colour per run, the same on every chart; runs without the metric
    // are left off its chart.
    const series: ChartSeries[] = runs
      .map((r, j) => ({ id: r.info.run_id, label: label(r), color: colorOf(j), points: h.data?.get(r.info.run_id) ?? [] }))
      .filter((s) => s.points.length > 0);
    return { key: k, series, pending: h.isPending, error: h.error, scalar: !!h.data && isScalar(series.map((s) => s.points)) };
  });
}

function ChartGrid({ charts, legend }: { charts: ReturnType<typeof useCharts>; legend?: boolean }) {
  return (
    <div className="charts">
      {charts.map((c) => c.error ? <ErrorBox key={c.key} error={c.error} /> : c.pending ? (
        <figure key={c.key} className="chart loading" data-metric={c.key}><figcaption><strong className="chart-title">{c.key}</strong></figcaption><Spinner /></figure>
      ) : <MetricChart key={c.key} metric={c.key} series={c.series} legend={legend} />)}
    </div>
  );
}

// MetricFilter narrows many metrics by name.
function useMetricFilter(keys: string[]) {
  const [f, setF] = useState("");
  const shown = f.trim() ? keys.filter((k) => k.toLowerCase().includes(f.trim().toLowerCase())) : keys;
  const box = keys.length > 6 && (
    <Field label="Metrics"><input type="search" value={f} onChange={(e) => setF(e.target.value)} placeholder="Filter by name" aria-label="Filter metrics" /></Field>
  );
  return [shown, box] as const;
}

// JobMetrics is a job's Metrics tab.
export function JobMetrics({ job }: { job: any }) {
  const w = useWorkspace();
  const name: string = job.name;
  const follow = isMoving(job.properties?.status);
  const q = useRun(name, follow);
  const run = q.data;
  const keys = metricKeys([run]);
  const [shown, filter] = useMetricFilter(keys);
  const charts = useCharts(w, run ? [run] : [], shown);
  if (q.isPending) return <Spinner />;
  const noRun = q.error instanceof ApiError && q.error.status === 404;
  if (q.error && !noRun) return <ErrorBox error={q.error} />;
  if (keys.length === 0) {
    return (
      <Empty title={follow ? "No metrics yet" : "This job logged no metrics"}>
        {follow ? <p>They appear here, live, as the job logs them.</p> : null}
        <HowToLog />
      </Empty>
    );
  }
  const scalars = charts.filter((c) => c.scalar).map((c) => c.key);
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}`;
  return (
    <div className="metrics" data-follow={follow}>
      <div className="filters row wrap">
        {filter}
        <span className="hint metrics-count" role="status">
          {keys.length} {keys.length === 1 ? "metric" : "metrics"}{follow ? " · updating live" : ""}
        </span>
        <span className="spacer" />
        <Link className="btn" to={`${base}/compare?runs=${enc(name)}`}><span className="icon" aria-hidden="true">⇄</span> Compare with other runs</Link>
      </div>
      {scalars.length > 0 && run && <ScalarTable keys={scalars} runs={[run]} />}
      <ChartGrid charts={charts.filter((c) => !c.scalar)} />
    </div>
  );
}

// useRuns are the compared runs, polled while one of them runs.
function useRuns(w: Workspace, ids: string[]) {
  return useQueries({
    queries: ids.map((id) => ({
      queryKey: ["mlflow-run", runPath(w, id)],
      queryFn: () => fetchRun(runPath(w, id)),
      retry: (n: number, e: unknown) => !clientError(e) && n < 2,
      refetchInterval: (q: { state: { data?: WireRun } }) => (isRunning(q.state.data?.info.status) ? 2000 : false),
    })),
  });
}

// useCandidates are the runs one may add: the newest of the experiments
// of the compared runs (or of the experiment the page was opened for).
function useCandidates(w: Workspace, experimentIds: string[], experimentName: string) {
  const byName = useQuery({
    queryKey: ["mlflow-experiment", wsPath(w), experimentName],
    enabled: !!experimentName,
    queryFn: () => getJSON(`${mlflowApi(w)}/experiments/get-by-name?experiment_name=${enc(experimentName)}`).then((d) => String(d.experiment.experiment_id)),
    retry: false,
  });
  const ids = [...new Set([...experimentIds, ...(byName.data ? [byName.data] : [])])].sort();
  const q = useQuery({
    queryKey: ["mlflow-runs", wsPath(w), ids.join(",")],
    enabled: ids.length > 0,
    queryFn: () => send<{ runs?: WireRun[] }>("POST", `${mlflowApi(w)}/runs/search`, { experiment_ids: ids, max_results: 50, order_by: ["attributes.start_time DESC"] }).then((d) => d?.runs ?? []),
    refetchInterval: (q: { state: { data?: WireRun[] } }) => (q.state.data?.some((r) => isRunning(r.info.status)) ? 5000 : false),
  });
  return { runs: q.data, error: byName.error ?? q.error, pending: (!!experimentName && byName.isPending) || (ids.length > 0 && q.isPending) };
}

// CompareRuns overlays the metrics of several runs (?runs=a,b,c: jobs'
// names) and puts their params and final metrics side by side.
export function CompareRuns() {
  useTitle("Compare runs");
  const w = useWorkspace();
  const { query } = useLocation();
  const ids = parseRuns(query.get("runs"));
  const experiment = query.get("experiment") ?? "";
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}`;
  const setIds = (next: string[]) =>
    navigate(`${base}/compare?runs=${next.map(enc).join(",")}${experiment ? "&experiment=" + enc(experiment) : ""}`, true);
  const rq = useRuns(w, ids);
  const runs = rq.map((r) => r.data).filter((r): r is WireRun => !!r);
  const missing = ids.filter((_, i) => rq[i].error);
  const cands = useCandidates(w, [...new Set(runs.map((r) => r.info.experiment_id))], experiment);
  // Opened for an experiment with nothing chosen: its newest five runs.
  useEffect(() => {
    if (ids.length === 0 && cands.runs?.length) setIds(cands.runs.slice(0, 5).map((r) => r.info.run_id));
  }, [ids.length, cands.runs]);
  const keys = metricKeys(runs);
  const [shown, filter] = useMetricFilter(keys);
  const charts = useCharts(w, runs, shown);
  const loading = rq.some((r) => r.isPending);
  return (
    <section className="compare">
      <PageHeader title="Compare runs">
        <Link className="btn" to={`${base}/jobs${experiment ? "?experiment=" + enc(experiment) : ""}`}>‹ Jobs</Link>
      </PageHeader>
      <RunPicker ids={ids} runs={runs} candidates={cands.runs ?? []} onChange={setIds} />
      <ErrorBox error={cands.error} />
      {missing.map((id) => <div key={id} className="notice" role="status"><strong>{id}</strong> has no run to compare: a job that never started has none. <Button className="small" onClick={() => setIds(ids.filter((x) => x !== id))}>Remove</Button></div>)}
      {loading || cands.pending ? <Spinner /> : runs.length === 0 ? (
        <Empty title="No runs chosen">Pick runs above, or select jobs in the Jobs list and choose <strong>Compare</strong>.</Empty>
      ) : (
        <>
          <div className="filters row wrap">{filter}<span className="hint" role="status">{runs.length} {runs.length === 1 ? "run" : "runs"}, {keys.length} {keys.length === 1 ? "metric" : "metrics"}</span></div>
          {keys.length === 0 ? <Empty title="These runs logged no metrics"><HowToLog /></Empty> : <ChartGrid charts={charts.filter((c) => !c.scalar)} legend />}
          <CompareTable runs={runs} />
        </>
      )}
    </section>
  );
}

// RunPicker: the compared runs (a colour each, as on the charts) and the
// newest runs of their experiments to add.
function RunPicker({ ids, runs, candidates, onChange }: { ids: string[]; runs: WireRun[]; candidates: WireRun[]; onChange: (ids: string[]) => void }) {
  const w = useWorkspace();
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}`;
  const byId = new Map([...candidates, ...runs].map((r) => [r.info.run_id, r]));
  const rows = [...runs, ...candidates.filter((c) => !ids.includes(c.info.run_id))];
  const chosen = runs.map((r) => r.info.run_id);
  const toggle = (id: string) => onChange(ids.includes(id) ? ids.filter((x) => x !== id) : [...ids, id]);
  if (rows.length === 0) return null;
  return (
    <div className="table-wrap run-picker">
      <table className="grid" aria-label="Runs">
        <thead><tr><th className="check"><span className="sr">Compare</span></th><th>Run</th><th>Status</th><th>Started</th><th>Duration</th></tr></thead>
        <tbody>
          {rows.map((r) => {
            const id = r.info.run_id;
            const on = ids.includes(id);
            const i = chosen.indexOf(id);
            const start = Number(r.info.start_time ?? 0);
            const end = Number(r.info.end_time ?? 0) || (isRunning(r.info.status) ? Date.now() : start);
            return (
              <tr key={id} className={on ? "selected" : ""} data-run={id}>
                <td className="check">
                  <input type="checkbox" checked={on} disabled={!on && ids.length >= maxCompared} title={!on && ids.length >= maxCompared ? `Compare at most ${maxCompared} runs at once.` : undefined}
                    aria-label={`Compare ${runLabel(byId.get(id) ?? r)}`} onChange={() => toggle(id)} />
                </td>
                <td>
                  {i >= 0 && <span className="swatch" style={{ background: colorOf(i) }} aria-hidden="true" />}
                  <Link to={`${base}/jobs/${enc(id)}?tab=metrics`}>{runLabel(r)}</Link>
                  {r.info.run_name && r.info.run_name !== id && <span className="hint"> {id}</span>}
                </td>
                <td><Badge state={jobStatusOf(r.info.status)} /></td>
                <td title={start ? new Date(start).toISOString() : ""}>{start ? ago(new Date(start).toISOString()) : ""}</td>
                <td>{start ? duration(end - start) : ""}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

// CompareTable: params and final metric values side by side.
function CompareTable({ runs }: { runs: WireRun[] }) {
  const [onlyDiff, setOnlyDiff] = useState(false);
  const { params, metrics } = useMemo(() => compareRows(runs), [runs]);
  const section = (title: string, rows: CompareRow[], kind: string) => {
    const shown = onlyDiff ? rows.filter((r) => r.differs) : rows;
    return (
      <tbody data-section={kind}>
        <tr className="section"><th colSpan={runs.length + 1}>{title}</th></tr>
        {shown.length === 0 ? (
          <tr><td colSpan={runs.length + 1} className="hint">{rows.length === 0 ? `No ${title.toLowerCase()}.` : "The same in every run."}</td></tr>
        ) : shown.map((r) => (
          <tr key={r.name} className={r.differs ? "differs" : ""} data-name={r.name}>
            <th scope="row">{r.name}</th>
            {r.values.map((v, i) => <td key={i} className={kind === "metrics" ? "tabular" : ""}>{v ?? <span className="hint">—</span>}</td>)}
          </tr>
        ))}
      </tbody>
    );
  };
  return (
    <section className="panel compare-table">
      <div className="row">
        <h2>Parameters and metrics</h2>
        <span className="spacer" />
        <label className="check-row"><input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} /> Only what differs</label>
      </div>
      <div className="table-wrap">
        <table className="grid side-by-side" aria-label="Parameters and metrics">
          <thead>
            <tr>
              <th>Name</th>
              {runs.map((r, i) => <th key={r.info.run_id} data-run={r.info.run_id}><span className="swatch" style={{ background: colorOf(i) }} aria-hidden="true" />{runLabel(r)}</th>)}
            </tr>
          </thead>
          {section("Parameters", params, "params")}
          {section("Metrics (last value)", metrics, "metrics")}
        </table>
      </div>
    </section>
  );
}
