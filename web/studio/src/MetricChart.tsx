// A line chart of one metric, in plain SVG: one line per run, by step (or
// by time since the first point when every step is 0), round ticks, and a
// crosshair that reads each run's value at the nearest point. A few hundred
// points per run (the server samples longer histories), so SVG is enough
// and the chart's contents stay in the page, for screen readers and tests.
import { useEffect, useMemo, useRef, useState, type PointerEvent } from "react";
import { extent, formatElapsed, formatTick, formatValue, linePath, nearestIndex, niceTicks, timeTicks, xAxisOf, xOf, type Point, type XAxis } from "./lib/metrics";

export interface ChartSeries {
  id: string; // the run
  label: string;
  color: string;
  points: Point[];
}

const height = 200;
const pad = { top: 10, right: 14, bottom: 30 };

// useWidth follows an element's width (ResizeObserver), fallback first.
function useWidth(fallback: number) {
  const ref = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver((es) => setW(Math.max(160, Math.floor(es[0].contentRect.width))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, w] as const;
}

interface Layout {
  axis: XAxis;
  xs: number[][]; // per series, each point's x
  xTicks: number[];
  yTicks: number[];
  sx: (x: number) => number;
  sy: (y: number) => number;
  left: number;
}

// layout scales the series into a chart of the given width.
function layout(series: ChartSeries[], width: number): Layout | null {
  const axis = xAxisOf(series.map((s) => s.points));
  const xs = series.map((s) => s.points.map((p) => xOf(axis, p, s.points[0])));
  const xe = extent(xs.flat());
  const ye = extent(series.flatMap((s) => s.points.map((p) => p.value)));
  if (!xe || !ye) return null;
  const xt = axis === "time" ? timeTicks(xe.max, Math.max(2, Math.floor(width / 110))) : niceTicks(Math.max(0, xe.min), xe.max, Math.max(2, Math.floor(width / 90)));
  const xTicks = axis === "step" ? xt.ticks.filter((t) => Number.isInteger(t)) : xt.ticks;
  const yt = niceTicks(ye.min, ye.max, 4);
  const left = 12 + 7 * Math.max(...yt.ticks.map((t) => formatTick(t).length));
  const w = width - left - pad.right;
  const h = height - pad.top - pad.bottom;
  const { min: x0, max: x1 } = xt.domain;
  const { min: y0, max: y1 } = yt.domain;
  return {
    axis, xs, xTicks, yTicks: yt.ticks, left,
    sx: (x) => left + ((x - x0) / (x1 - x0 || 1)) * w,
    sy: (y) => pad.top + h - ((y - y0) / (y1 - y0 || 1)) * h,
  };
}

function xLabel(axis: XAxis, x: number): string {
  return axis === "time" ? formatElapsed(x) : formatTick(x);
}

// MetricChart draws one metric of one or more runs.
export function MetricChart({ metric, series, legend }: { metric: string; series: ChartSeries[]; legend?: boolean }) {
  const [ref, width] = useWidth(420);
  const [hover, setHover] = useState<number | null>(null); // an x in data units
  const l = useMemo(() => layout(series, width), [series, width]);
  const single = series.length === 1 ? series[0] : null;
  const lastOf = (s: ChartSeries) => s.points[s.points.length - 1];
  const total = series.reduce((n, s) => n + s.points.length, 0);
  const summary = series.map((s) => `${s.label}: ${s.points.length} points, last ${lastOf(s) ? formatValue(lastOf(s).value) : "none"}`).join("; ");
  const move = (e: PointerEvent<SVGRectElement>) => {
    if (!l) return;
    const box = e.currentTarget.ownerSVGElement!.getBoundingClientRect();
    const px = e.clientX - box.left;
    // Invert sx on the first and last ticks' positions.
    const [a, b] = [l.xTicks[0] ?? 0, l.xTicks[l.xTicks.length - 1] ?? 1];
    const pa = l.sx(a), pb = l.sx(b);
    setHover(a + ((px - pa) / (pb - pa || 1)) * (b - a));
  };
  // Each run's point nearest the pointer; the crosshair sits on the
  // nearest of them all.
  const near = l && hover != null ? series.map((s, k) => ({ s, k, i: nearestIndex(l.xs[k], hover) })).filter((n) => n.i >= 0) : [];
  let hx: number | null = null;
  for (const n of near) {
    const x = l!.xs[n.k][n.i];
    if (hx == null || Math.abs(x - hover!) < Math.abs(hx - hover!)) hx = x;
  }
  return (
    <figure className="chart" data-metric={metric} data-x={l?.axis ?? "step"} data-points={total}>
      <figcaption>
        <strong className="chart-title" title={metric}>{metric}</strong>
        {single && lastOf(single) && (
          <span className="chart-last" data-last={lastOf(single).value}>
            {formatValue(lastOf(single).value)} <span className="hint">{l?.axis === "time" ? "last" : `at step ${lastOf(single).step}`}</span>
          </span>
        )}
      </figcaption>
      <div className="chart-plot" ref={ref}>
        {!l ? <div className="chart-none hint">No finite values to draw.</div> : (
          <svg width={width} height={height} role="img" aria-label={`${metric} by ${l.axis}: ${summary}`}>
            <g className="grid-lines">
              {l.yTicks.map((t) => <line key={t} x1={l.left} x2={width - pad.right} y1={l.sy(t)} y2={l.sy(t)} />)}
            </g>
            <g className="axis y-axis">
              {l.yTicks.map((t) => <text key={t} x={l.left - 6} y={l.sy(t)} dy="0.32em" textAnchor="end">{formatTick(t)}</text>)}
            </g>
            <g className="axis x-axis">
              <line x1={l.left} x2={width - pad.right} y1={height - pad.bottom} y2={height - pad.bottom} />
              {l.xTicks.map((t) => (
                <g key={t}>
                  <line x1={l.sx(t)} x2={l.sx(t)} y1={height - pad.bottom} y2={height - pad.bottom + 4} />
                  <text x={l.sx(t)} y={height - pad.bottom + 16} textAnchor="middle">{xLabel(l.axis, t)}</text>
                </g>
              ))}
            </g>
            {series.map((s, i) => {
              const pts = s.points.map((p, j) => ({ x: l.sx(l.xs[i][j]), y: Number.isFinite(p.value) ? l.sy(p.value) : NaN }));
              const last = lastOf(s);
              return (
                <g key={s.id} className="series" data-run={s.id} data-points={s.points.length} data-last={last?.value} data-last-step={last?.step}>
                  <path d={linePath(pts)} stroke={s.color} fill="none" strokeWidth={1.75} strokeLinejoin="round" strokeLinecap="round" />
                  {(s.points.length <= 40 ? pts : pts.slice(-1)).map((p, j) => Number.isFinite(p.y) && <circle key={j} cx={p.x} cy={p.y} r={2.5} fill={s.color} />)}
                </g>
              );
            })}
            {hx != null && (
              <g className="crosshair">
                <line x1={l.sx(hx)} x2={l.sx(hx)} y1={pad.top} y2={height - pad.bottom} />
                {near.map(({ s, k, i }) => {
                  const v = s.points[i].value;
                  return Number.isFinite(v) && <circle key={s.id} cx={l.sx(l.xs[k][i])} cy={l.sy(v)} r={4} fill={s.color} stroke="var(--panel)" strokeWidth={1.5} />;
                })}
              </g>
            )}
            <rect className="hit" x={l.left} y={pad.top} width={Math.max(0, width - l.left - pad.right)} height={height - pad.top - pad.bottom}
              onPointerMove={move} onPointerLeave={() => setHover(null)} />
          </svg>
        )}
        {l && hx != null && (
          <div className="chart-tip" role="status" style={l.sx(hx) > width / 2 ? { right: width - l.sx(hx) + 10 } : { left: l.sx(hx) + 10 }}>
            <div className="hint">{l.axis === "time" ? formatElapsed(hx) : `step ${formatTick(hx)}`}</div>
            {near.map(({ s, i }) => (
              <div key={s.id} className="tip-row">
                <span className="swatch" style={{ background: s.color }} aria-hidden="true" />
                {series.length > 1 && <span className="tip-label">{s.label}</span>}
                <strong>{formatValue(s.points[i].value)}</strong>
                {l.axis === "step" && s.points[i].step !== hx && <span className="hint">(step {s.points[i].step})</span>}
              </div>
            ))}
          </div>
        )}
      </div>
      {legend && (
        <ul className="legend" aria-label={`Runs of ${metric}`}>
          {series.map((s) => (
            <li key={s.id} data-run={s.id}>
              <span className="swatch" style={{ background: s.color }} aria-hidden="true" />
              <span className="legend-label" title={s.label}>{s.label}</span>
              <span className="legend-last">{lastOf(s) ? formatValue(lastOf(s).value) : "—"}</span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
