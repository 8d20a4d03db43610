import { afterEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { Idle } from "./pages/Compute";
import { Timeline } from "./Timeline";
import { FileTree } from "./FileTree";
import { buildTree, clusterRequest, isoSeconds } from "./lib/util";

afterEach(cleanup);

describe("Timeline", () => {
  it("shows each phase's time and why the job waited", () => {
    render(<Timeline reason="Completed." phases={[
      { status: "Queued", time: "2026-03-02T10:00:00Z", reason: "Waiting for a node: cpu at 1/1 nodes, all busy." },
      { status: "Running", time: "2026-03-02T10:01:05Z", reason: "Running on node node-1." },
      { status: "Completed", time: "2026-03-02T10:01:15Z" },
    ]} attempts={[{ attempt: 1, nodes: ["n0"], start: "2026-03-02T09:59:00Z", end: "2026-03-02T09:59:30Z", outcome: "Preempted", reason: "Node n0 was preempted." }]} />);
    const phases = screen.getByRole("list", { name: "Phases" });
    const queued = within(phases).getAllByRole("listitem")[0];
    expect(queued.textContent).toContain("1m 5s");
    expect(queued.textContent).toContain("Why it waited: Waiting for a node: cpu at 1/1 nodes, all busy.");
    expect(screen.getByText(/waited 1m 5s before it ran/)).toBeTruthy();
    expect(screen.getByText(/Attempt 1 on n0/).textContent).toContain("30s");
  });
});

describe("FileTree", () => {
  it("unfolds a snapshot's single folder, folds on click, and gives files their actions", () => {
    const tree = buildTree([
      { path: "src/train.py", isDirectory: false, size: 10 },
      { path: "src/data/rows.csv", isDirectory: false, size: 5 },
    ]);
    const opened: string[] = [];
    render(<FileTree root={tree} label="Code snapshot" onOpen={(n) => opened.push(n.path)} actions={(n) => <a href={"#" + n.path}>get {n.name}</a>} />);
    fireEvent.click(screen.getByRole("button", { name: /train\.py/ }));
    expect(opened).toEqual(["src/train.py"]);
    expect(screen.getByText("get train.py")).toBeTruthy();
    expect(screen.getByText("get rows.csv")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: /data/ }));
    expect(screen.queryByText("get rows.csv")).toBeNull();
  });
});

describe("clusterRequest", () => {
  const form = { name: "aml-cluster", size: "Standard_DS11_v2", tier: "LowPriority" as const, min: "0", max: "2", idleSeconds: "120" };
  it("builds the AmlCompute body azure-ai-ml sends", () => {
    expect(clusterRequest(form, "eastus").body).toEqual({ location: "eastus", properties: { computeType: "AmlCompute", properties: {
      vmSize: "Standard_DS11_v2", vmPriority: "LowPriority", scaleSettings: { minNodeCount: 0, maxNodeCount: 2, nodeIdleTimeBeforeScaleDown: "PT120S" } } } });
  });
  it("says what to fix", () => {
    expect(clusterRequest({ ...form, name: "a" }, "eastus").errors.name).toMatch(/2 to 16/);
    expect(clusterRequest({ ...form, min: "3" }, "eastus").errors.min).toMatch(/cannot exceed/);
    expect(clusterRequest({ ...form, max: "0" }, "eastus").errors.max).toMatch(/1 to 1000/);
    expect(clusterRequest({ ...form, idleSeconds: "2m" }, "eastus").errors.idleSeconds).toMatch(/whole seconds/);
    expect(clusterRequest({ ...form, name: "a" }, "eastus").body).toBeUndefined();
  });
  it("reads ISO durations", () => {
    expect(isoSeconds("PT120S")).toBe(120);
    expect(isoSeconds("PT2M")).toBe(120);
    expect(isoSeconds("P1DT1H")).toBe(90000);
    expect(isoSeconds("2m")).toBeNull();
  });
});

describe("Idle", () => {
  it("moves on while the instance stays the same", () => {
    vi.useFakeTimers({ now: Date.parse("2026-03-02T17:00:00Z") });
    try {
      const c = { properties: { computeType: "ComputeInstance", properties: { state: "Running", mlw: { idleSince: "2026-03-02T16:48:00Z" },
        schedules: { computeStartStop: [{ action: "Stop", status: "Enabled", triggerType: "Cron", cron: { expression: "0 18 * * *", timeZone: "UTC" } }] } } } };
      const { container, rerender } = render(<p><Idle c={c} /></p>);
      expect(container.textContent).toMatch(/^Idle for 12m, stops at 18:00/);
      const now = { ...c, properties: { ...c.properties, properties: { ...c.properties.properties, mlw: { idleSince: "2026-03-02T16:59:58Z" } } } };
      rerender(<p><Idle c={now} /></p>);
      expect(container.textContent).toBe("Idle for less than a minute, stops at 18:00");
      rerender(<p><Idle c={c} /></p>);
      act(() => vi.advanceTimersByTime(3 * 60_000));
      expect(container.textContent).toMatch(/^Idle for 15m, stops at 18:00/);
    } finally {
      vi.useRealTimers();
    }
  });
});
