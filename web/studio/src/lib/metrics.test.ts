import { describe, expect, it } from "vitest";
import {
  compareRows, extent, formatElapsed, formatTick, formatValue, historyPath, isScalar, jobStatusOf, latest, linePath, metricKeys, nearestIndex,
  niceTicks, parseRuns, parseValue, runPath, seriesByRun, stampOf, timeTicks, xAxisOf, xOf, type WireRun,
} from "./metrics";

const w = { sub: "s", rg: "rg", ws: "ws" };

function run(id: string, metrics: [string, number | string, number, number][], params: [string, string][] = [], name = ""): WireRun {
  return {
    info: { run_id: id, run_name: name, experiment_id: "1", status: "FINISHED" },
    data: { metrics: metrics.map(([key, value, step, timestamp]) => ({ key, value, step, timestamp })), params: params.map(([key, value]) => ({ key, value })) },
  };
}

describe("MLflow paths", () => {
  it("asks the workspace's MLflow API, sampled on the server", () => {
    expect(runPath(w, "job 1")).toBe("/mlflow/v1.0/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/api/2.0/mlflow/runs/get?run_id=job%201");
    expect(historyPath(w, ["a", "b"], "val/loss")).toBe(
      "/mlflow/v1.0/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=a&run_ids=b&metric_key=val%2Floss&max_results=500");
  });
});

describe("values and series", () => {
  it("reads MLflow's numbers and its strings for NaN and infinities", () => {
    expect(parseValue(0.5)).toBe(0.5);
    expect(parseValue("NaN")).toBeNaN();
    expect(parseValue("Infinity")).toBe(Infinity);
    expect(parseValue("-Infinity")).toBe(-Infinity);
  });
  it("groups a bulk history by run, ordered by step then time", () => {
    const s = seriesByRun([
      { key: "loss", value: 0.5, step: 2, timestamp: 30, run_id: "a" },
      { key: "loss", value: 1, step: 0, timestamp: 10, run_id: "a" },
      { key: "loss", value: 0.9, step: "1", timestamp: "5", run_id: "b" },
      { key: "loss", value: "NaN", step: 1, timestamp: 20, run_id: "a" },
    ]);
    expect([...s.keys()]).toEqual(["a", "b"]);
    expect(s.get("a")!.map((p) => p.step)).toEqual([0, 1, 2]);
    expect(s.get("a")![1].value).toBeNaN();
    expect(s.get("b")).toEqual([{ step: 1, time: 5, value: 0.9 }]);
  });
  it("charts by step, or by time when every step is 0", () => {
    const p = (step: number, time: number) => ({ step, time, value: 1 });
    expect(xAxisOf([[p(0, 1), p(1, 2)]])).toBe("step");
    expect(xAxisOf([[p(0, 1000), p(0, 4000)], [p(0, 9000)]])).toBe("time");
    expect(xAxisOf([[p(0, 1)]])).toBe("step");
    // Time is since each run's first point: runs compared start together.
    expect(xOf("time", p(0, 4000), p(0, 1000))).toBe(3000);
    expect(xOf("step", p(7, 4000), p(0, 1000))).toBe(7);
  });
  it("calls a metric with one point per run a value, for the table", () => {
    const p = { step: 0, time: 1, value: 1 };
    expect(isScalar([[p], [p]])).toBe(true);
    expect(isScalar([[p], [p, p]])).toBe(false);
  });
  it("lists the latest values and keys, sorted", () => {
    const r = run("a", [["loss", 0.2, 9, 100], ["acc", 0.9, 9, 100]]);
    expect(latest(r).map((m) => m.key)).toEqual(["acc", "loss"]);
    expect(metricKeys([r, run("b", [["f1", 1, 0, 1], ["acc", 1, 0, 1]]), undefined])).toEqual(["acc", "f1", "loss"]);
  });
  it("stamps a metric by each run's latest point, to know when to fetch again", () => {
    const a = run("a", [["loss", 0.2, 9, 100]]);
    const b = run("b", [["acc", 1, 0, 1]]);
    expect(stampOf([a, b], "loss")).toBe("9:100:0.2|");
    expect(stampOf([run("a", [["loss", 0.1, 10, 110]]), b], "loss")).not.toBe(stampOf([a, b], "loss"));
  });
});

describe("axes", () => {
  it("finds the finite extent, widening a single value", () => {
    expect(extent([3, NaN, 1, Infinity, 2])).toEqual({ min: 1, max: 3 });
    expect(extent([5, 5])).toEqual({ min: 4.5, max: 5.5 });
    expect(extent([0])).toEqual({ min: -1, max: 1 });
    expect(extent([NaN])).toBeNull();
  });
  it("makes round ticks", () => {
    expect(niceTicks(0, 1, 5).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.92, 4)).toEqual({ ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], domain: { min: 0, max: 1 } });
    expect(niceTicks(0, 99_999, 5).ticks).toEqual([0, 20000, 40000, 60000, 80000, 100000]);
    expect(niceTicks(-3, 7, 5).ticks).toEqual([-4, -2, 0, 2, 4, 6, 8]);
    expect(niceTicks(0.1, 0.3, 4).ticks).toEqual([0.1, 0.15, 0.2, 0.25, 0.3]);
  });
  it("makes round durations on a time axis", () => {
    expect(timeTicks(3000, 5).ticks).toEqual([0, 1000, 2000, 3000]);
    expect(timeTicks(95_000, 5).ticks).toEqual([0, 30_000, 60_000, 90_000, 120_000]);
    expect(timeTicks(2 * 3600_000, 4).ticks).toEqual([0, 1800_000, 3600_000, 5400_000, 7200_000]);
  });
  it("formats values, ticks and durations for people", () => {
    expect(formatValue(1 / 3)).toBe("0.3333");
    expect(formatValue(0.9)).toBe("0.9");
    expect(formatValue(12345)).toBe("12,345");
    expect(formatValue(123.456)).toBe("123.5");
    expect(formatValue(1.5e-7)).toBe("1.50e-7");
    expect(formatValue(NaN)).toBe("NaN");
    expect(formatValue(-Infinity)).toBe("−∞");
    expect(formatTick(40000)).toBe("40k");
    expect(formatTick(2_500_000)).toBe("2.5M");
    expect(formatTick(0.25)).toBe("0.25");
    expect(formatElapsed(0)).toBe("0s");
    expect(formatElapsed(90_000)).toBe("1m 30s");
    expect(formatElapsed(7200_000)).toBe("2h");
    expect(formatElapsed(500)).toBe("500 ms");
  });
});

describe("drawing", () => {
  it("finds the nearest point", () => {
    const xs = [0, 10, 20, 30];
    expect(nearestIndex(xs, -5)).toBe(0);
    expect(nearestIndex(xs, 14)).toBe(1);
    expect(nearestIndex(xs, 16)).toBe(2);
    expect(nearestIndex(xs, 99)).toBe(3);
    expect(nearestIndex([], 1)).toBe(-1);
  });
  it("breaks the line where a value cannot be drawn", () => {
    expect(linePath([{ x: 0, y: 1 }, { x: 1, y: 2 }, { x: 2, y: NaN }, { x: 3, y: 4 }, { x: 4, y: 5 }])).toBe("M0.0,1.0L1.0,2.0M3.0,4.0L4.0,5.0");
  });
});

describe("compare", () => {
  it("puts params and final metrics side by side and marks what differs", () => {
    const a = run("a", [["loss", 0.25, 9, 1], ["acc", 0.9, 9, 1]], [["lr", "0.01"], ["model", "svm"]], "first");
    const b = run("b", [["loss", 0.5, 9, 1]], [["lr", "0.1"], ["model", "svm"], ["depth", "3"]]);
    const { params, metrics } = compareRows([a, b]);
    expect(params).toEqual([
      { name: "depth", values: [undefined, "3"], differs: true },
      { name: "lr", values: ["0.01", "0.1"], differs: true },
      { name: "model", values: ["svm", "svm"], differs: false },
    ]);
    expect(metrics).toEqual([
      { name: "acc", values: ["0.9", undefined], differs: true },
      { name: "loss", values: ["0.25", "0.5"], differs: true },
    ]);
  });
  it("reads the runs of the address once each", () => {
    expect(parseRuns("a, b,,a,c")).toEqual(["a", "b", "c"]);
    expect(parseRuns(null)).toEqual([]);
  });
  it("names MLflow's statuses as jobs'", () => {
    expect(jobStatusOf("FINISHED")).toBe("Completed");
    expect(jobStatusOf("KILLED")).toBe("Canceled");
    expect(jobStatusOf("RUNNING")).toBe("Running");
  });
});
