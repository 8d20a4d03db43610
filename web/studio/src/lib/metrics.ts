// The data behind a job's Metrics tab and the compare page: MLflow's runs
// and metric histories (docs/mlflow.md) shaped into series for charts and
// rows for tables. Pure functions, so that they are tested without a
// browser (metrics.test.ts).
import { enc, wsPath, type Workspace } from "./api";

// wireValue is a metric's value as MLflow's JSON has it: a number, or one
// of the strings "NaN", "Infinity", "-Infinity".
export type WireValue = number | string;

export interface WireMetric {
  key: string;
  value: WireValue;
  timestamp: number | string;
  step: number | string;
  run_id?: string;
}

export interface WireRun {
  info: { run_id: string; run_name?: string; experiment_id: string; status: string; start_time?: number | string; end_time?: number | string };
  data?: { metrics?: WireMetric[]; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] };
}

export interface Point {
  step: number;
  time: number; // milliseconds since the epoch
  value: number; // NaN and ±Infinity as JavaScript has them
}

// maxPoints is how many points of one run's history a chart asks for: the
// server samples a longer history evenly, keeping its first and last points
// (get-history-bulk-interval's max_results), so a series of 100,000 points
// ships 500.
export const maxPoints = 500;

// mlflowApi is the workspace's MLflow REST API (its tracking URI plus
// /api/2.0/mlflow), which takes the studio session like every API route.
export function mlflowApi(w: Workspace): string {
  return `/mlflow/v1.0${wsPath(w)}/api/2.0/mlflow`;
}

export function runPath(w: Workspace, run: string): string {
  return `${mlflowApi(w)}/runs/get?run_id=${enc(run)}`;
}

// historyPath is one metric of runs (at most 100), sampled to maxPoints each.
export function historyPath(w: Workspace, runs: string[], key: string, max = maxPoints): string {
  return `${mlflowApi(w)}/metrics/get-history-bulk-interval?${runs.map((r) => "run_ids=" + enc(r)).join("&")}&metric_key=${enc(key)}&max_results=${max}`;
}

export function parseValue(v: WireValue): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return Number(v);
}

// seriesByRun groups a bulk history by run, each ordered by step, then time.
export function seriesByRun(ms: WireMetric[]): Map<string, Point[]> {
  const out = new Map<string, Point[]>();
  for (const m of ms) {
    const run = m.run_id ?? "";
    let pts = out.get(run);
    if (!pts) out.set(run, (pts = []));
    pts.push({ step: Number(m.step), time: Number(m.timestamp), value: parseValue(m.value) });
  }
  for (const pts of out.values()) pts.sort((a, b) => a.step - b.step || a.time - b.time);
  return out;
}

// latest is a run's latest value of each metric (what runs/get says),
// sorted by key.
export function latest(run: WireRun | undefined): { key: string; point: Point }[] {
  return (run?.data?.metrics ?? [])
    .map((m) => ({ key: m.key, point: { step: Number(m.step), time: Number(m.timestamp), value: parseValue(m.value) } }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

// XAxis: a metric is charted by step, or by time (since its first point)
// when every point was logged at step 0, as log_metric without a step does.
export type XAxis = "step" | "time";

export function xAxisOf(series: Point[][]): XAxis {
  const pts = series.flat();
  return pts.length > 1 && pts.every((p) => p.step === 0) ? "time" : "step";
}

// xOf is where a point goes on the x axis: its step, or the milliseconds
// since its series' first point (runs compared on time start together).
export function xOf(axis: XAxis, p: Point, first: Point | undefined): number {
  return axis === "step" ? p.step : p.time - (first?.time ?? p.time);
}

// isScalar: a metric with one point in every run is a value, not a curve;
// it goes into a table.
export function isScalar(series: Point[][]): boolean {
  return series.every((s) => s.length <= 1);
}

export interface Extent {
  min: number;
  max: number;
}

// extent of the finite numbers among xs, widened when it is one value
// (so that a flat line sits mid-chart); null when there are none.
export function extent(xs: number[]): Extent | null {
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (!Number.isFinite(x)) continue;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (min > max) return null;
  if (min === max) {
    const d = min === 0 ? 1 : Math.abs(min) * 0.1;
    return { min: min - d, max: max + d };
  }
  return { min, max };
}

// niceTicks are about count round numbers (1, 2 or 5 times a power of
// ten) covering [min, max]; the domain is widened to the outer ticks.
export function niceTicks(min: number, max: number, count = 5): { ticks: number[]; domain: Extent } {
  if (!(max > min)) return { ticks: [min], domain: { min, max } };
  const raw = (max - min) / Math.max(1, count);
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / pow;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : round(v, step));
  return { ticks, domain: { min: lo, max: hi } };
}

// round drops the float noise of adding a step (0.30000000000000004).
function round(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(20, digits)));
}

// timeTicks are round durations (seconds, minutes, hours) covering [0, max] ms.
export function timeTicks(max: number, count = 5): { ticks: number[]; domain: Extent } {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  if (!(max > 0)) return { ticks: [0], domain: { min: 0, max: 1000 } };
  if (max < 1000 * count) return niceTicks(0, max, count);
  const step = steps.find((s) => max / s <= count) ?? Math.ceil(max / count / 86_400_000) * 86_400_000;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= hi; v += step) ticks.push(v);
  return { ticks, domain: { min: 0, max: hi } };
}

// formatValue is a metric's value for people: up to 4 significant digits,
// exponents for the very large and very small.
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "∞";
  if (v === -Infinity) return "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(2).replace("e+", "e");
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return String(Number(v.toPrecision(4)));
}

// formatTick is an axis label: like formatValue, but ticks share a step,
// so 0.25, 0.5, 0.75 keep the digits they need and large ones shorten.
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return trim(v / 1e9) + "G";
  if (a >= 1e6) return trim(v / 1e6) + "M";
  if (a >= 1e4) return trim(v / 1e3) + "k";
  return formatValue(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}

// formatElapsed is a time axis label: 0s, 45s, 2m, 1m 30s, 2h.
export function formatElapsed(ms: number): string {
  if (ms < 1000 && ms > 0) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  if (m) return sec ? `${m}m ${sec}s` : `${m}m`;
  return `${sec}s`;
}

// nearestIndex is the index of the point whose x is nearest to x, in
// points sorted by x (binary search: a chart's hover on 500 points).
export function nearestIndex(xs: number[], x: number): number {
  if (xs.length === 0) return -1;
  let lo = 0;
  let hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) return lo - 1;
  return lo;
}

// linePath is an SVG path through the points, broken where a value is
// not finite (NaN, ±Infinity cannot be drawn).
export function linePath(pts: { x: number; y: number }[]): string {
  let d = "";
  let pen = false;
  for (const p of pts) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += (pen ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1);
    pen = true;
  }
  return d;
}

// palette: one colour per run, distinguishable in the light and dark themes.
export const palette = ["#2b88d8", "#e3008c", "#13a10e", "#ff8c00", "#8764b8", "#00a5b0", "#c19c00", "#d13438", "#4f6bed", "#8e8a86"];

export function colorOf(i: number): string {
  return palette[i % palette.length];
}

// runLabel is what a run is called on a chart's legend: its display name
// (run_name, the job's display name), else its id (the job's name).
export function runLabel(run: WireRun): string {
  return run.info.run_name || run.info.run_id;
}

export interface CompareRow {
  name: string;
  values: (string | undefined)[]; // one per run, undefined where a run has none
  differs: boolean;
}

// compareRows are the params and the final (latest) metric values of the
// runs side by side, each row sorted by name; differs says the runs do not
// all have the same value, the rows a comparison is usually after.
export function compareRows(runs: WireRun[]): { params: CompareRow[]; metrics: CompareRow[] } {
  const rows = (pick: (r: WireRun) => Map<string, string>): CompareRow[] => {
    const per = runs.map(pick);
    const names = [...new Set(per.flatMap((m) => [...m.keys()]))].sort((a, b) => a.localeCompare(b));
    return names.map((name) => {
      const values = per.map((m) => m.get(name));
      return { name, values, differs: new Set(values).size > 1 };
    });
  };
  return {
    params: rows((r) => new Map((r.data?.params ?? []).map((p) => [p.key, p.value]))),
    metrics: rows((r) => new Map(latest(r).map((m) => [m.key, formatValue(m.point.value)]))),
  };
}

// metricKeys is every metric key of the runs, sorted.
export function metricKeys(runs: (WireRun | undefined)[]): string[] {
  return [...new Set(runs.flatMap((r) => (r?.data?.metrics ?? []).map((m) => m.key)))].sort((a, b) => a.localeCompare(b));
}

// isRunning: MLflow's states of a run that may still log.
export function isRunning(status: string | undefined): boolean {
  return status === "RUNNING" || status === "SCHEDULED";
}

// parseRuns reads the compare page's ?runs=a,b,c (each once, in order).
export function parseRuns(s: string | null): string[] {
  return [...new Set((s ?? "").split(",").map((x) => x.trim()).filter(Boolean))];
}

// jobStatusOf names an MLflow run's status as the job's (the badge's words).
export function jobStatusOf(status: string | undefined): string {
  switch (status) {
    case "RUNNING":
      return "Running";
    case "SCHEDULED":
      return "Queued";
    case "FINISHED":
      return "Completed";
    case "FAILED":
      return "Failed";
    case "KILLED":
      return "Canceled";
  }
  return status ?? "";
}

// stampOf is what changes when a run logs another point of a metric: its
// latest point (runs/get), for each run. A chart's history is fetched
// again when its stamp moves.
export function stampOf(runs: (WireRun | undefined)[], key: string): string {
  return runs
    .map((r) => {
      const m = r?.data?.metrics?.find((x) => x.key === key);
      return m ? `${m.step}:${m.timestamp}:${m.value}` : "";
    })
    .join("|");
}
