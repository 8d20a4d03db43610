import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { SessionContext, WorkspaceContext } from "../session";
import { CompareRuns, JobMetrics } from "./Metrics";
import { compareReason } from "./Jobs";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const runs: Record<string, any> = {
  a: {
    info: { run_id: "a", run_name: "first", experiment_id: "1", status: "FINISHED", start_time: 1000, end_time: 5000 },
    data: {
      metrics: [{ key: "loss", value: 0.25, step: 2, timestamp: 3 }, { key: "auc", value: 0.8, step: 0, timestamp: 3 }],
      params: [{ key: "lr", value: "0.01" }, { key: "opt", value: "adam" }],
    },
  },
  b: {
    info: { run_id: "b", run_name: "second", experiment_id: "1", status: "FINISHED", start_time: 2000, end_time: 4000 },
    data: { metrics: [{ key: "loss", value: 0.5, step: 1, timestamp: 3 }], params: [{ key: "lr", value: "0.1" }, { key: "opt", value: "adam" }] },
  },
  empty: { info: { run_id: "empty", experiment_id: "1", status: "FINISHED" }, data: {} },
};

const histories: Record<string, any[]> = {
  loss: [
    { key: "loss", value: 1, step: 0, timestamp: 1, run_id: "a" }, { key: "loss", value: 0.5, step: 1, timestamp: 2, run_id: "a" },
    { key: "loss", value: 0.25, step: 2, timestamp: 3, run_id: "a" },
    { key: "loss", value: 0.9, step: 0, timestamp: 1, run_id: "b" }, { key: "loss", value: 0.5, step: 1, timestamp: 2, run_id: "b" },
  ],
  auc: [{ key: "auc", value: 0.8, step: 0, timestamp: 3, run_id: "a" }],
};

// fakeMLflow answers runs/get, runs/search and the bulk history from the
// tables above, and records the history requests.
function fakeMLflow() {
  const asked: URL[] = [];
  vi.stubGlobal("fetch", async (input: string, init?: RequestInit) => {
    const u = new URL(input, "http://localhost");
    if (u.pathname.endsWith("/runs/get")) {
      const r = runs[u.searchParams.get("run_id") ?? ""];
      return r ? Response.json({ run: r }) : Response.json({ error_code: "RESOURCE_DOES_NOT_EXIST", message: "no run" }, { status: 404 });
    }
    if (u.pathname.endsWith("/runs/search")) {
      expect(init?.method).toBe("POST");
      return Response.json({ runs: [runs.b, runs.a] });
    }
    if (u.pathname.endsWith("/get-history-bulk-interval")) {
      asked.push(u);
      const ids = u.searchParams.getAll("run_ids");
      return Response.json({ metrics: (histories[u.searchParams.get("metric_key") ?? ""] ?? []).filter((m) => ids.includes(m.run_id)) });
    }
    return Response.json({}, { status: 404 });
  });
  return asked;
}

function renderIn(node: ReactNode, url = "/studio/ws/sub/rg/ws/jobs/a?tab=metrics") {
  history.replaceState(null, "", url);
  const me = { user: { name: "admin", objectId: "o", role: "Owner", tenantId: "t" }, canWrite: true, isOwner: true, kind: "cookie" as const };
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <SessionContext.Provider value={me}>
        <WorkspaceContext.Provider value={{ sub: "sub", rg: "rg", ws: "ws" }}>{node}</WorkspaceContext.Provider>
      </SessionContext.Provider>
    </QueryClientProvider>,
  );
}

describe("a job's Metrics tab", () => {
  it("charts a metric with a history, lists a single value, and asks for sampled histories", async () => {
    const asked = fakeMLflow();
    const { container } = renderIn(<JobMetrics job={{ name: "a", properties: { status: "Completed" } }} />);
    await waitFor(() => expect(container.querySelector('figure[data-metric="loss"] g.series[data-run="a"]')).not.toBeNull());
    const loss = container.querySelector('figure[data-metric="loss"]')!;
    expect(loss.getAttribute("data-x")).toBe("step");
    expect(loss.querySelector("g.series")!.getAttribute("data-points")).toBe("3");
    expect(loss.querySelector(".chart-last")!.textContent).toContain("0.25");
    expect(loss.querySelector("path")!.getAttribute("d")).toMatch(/^M[\d.]+,[\d.]+L[\d.]+,[\d.]+L[\d.]+,[\d.]+$/);
    await waitFor(() => expect(container.querySelector('.scalars tr[data-metric="auc"]')).not.toBeNull());
    expect(container.querySelector('figure[data-metric="auc"]')).toBeNull();
    expect(asked.every((u) => u.searchParams.get("max_results") === "500")).toBe(true);
    expect(screen.getByRole("link", { name: /Compare with other runs/ }).getAttribute("href")).toBe("/studio/ws/sub/rg/ws/compare?runs=a");
  });

  it("says how to log a metric when the job logged none", async () => {
    fakeMLflow();
    renderIn(<JobMetrics job={{ name: "empty", properties: { status: "Completed" } }} />);
    expect(await screen.findByText("This job logged no metrics")).toBeTruthy();
    expect(screen.getByRole("status").textContent).toContain('mlflow.log_metric("loss", loss, step=epoch)');
  });

  it("waits for the metrics of a job that has not started", async () => {
    fakeMLflow();
    renderIn(<JobMetrics job={{ name: "queued", properties: { status: "Queued" } }} />);
    expect(await screen.findByText("No metrics yet")).toBeTruthy();
  });
});

describe("compare runs", () => {
  it("overlays a line per run and puts params and final metrics side by side", async () => {
    const asked = fakeMLflow();
    const { container } = renderIn(<CompareRuns />, "/studio/ws/sub/rg/ws/compare?runs=a,b");
    await waitFor(() => expect(container.querySelectorAll('figure[data-metric="loss"] g.series')).toHaveLength(2));
    expect([...container.querySelectorAll('figure[data-metric="loss"] .legend li')].map((li) => li.textContent)).toEqual(["first0.25", "second0.5"]);
    expect(asked.find((u) => u.searchParams.get("metric_key") === "loss")!.searchParams.getAll("run_ids")).toEqual(["a", "b"]);
    const row = (section: string, name: string) => container.querySelector(`tbody[data-section="${section}"] tr[data-name="${name}"]`)!;
    expect(row("params", "lr").className).toBe("differs");
    expect(row("params", "opt").className).toBe("");
    expect(row("metrics", "auc").textContent).toBe("auc0.8—");
    expect(container.querySelectorAll(".run-picker tr.selected")).toHaveLength(2);
  });

  it("lets 2 to 10 jobs be compared", () => {
    expect(compareReason(1)).toMatch(/two or more/);
    expect(compareReason(2)).toBeNull();
    expect(compareReason(10)).toBeNull();
    expect(compareReason(11)).toMatch(/at most 10/);
  });
});
