import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { SessionContext, WorkspaceContext } from "../session";
import { Jobs } from "./Jobs";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

// renderJobs opens the Jobs page with a fake API that records the job
// list requests and knows two experiments.
function renderJobs() {
  const asked: URLSearchParams[] = [];
  vi.stubGlobal("fetch", async (input: string) => {
    const u = new URL(input, "http://localhost");
    if (u.pathname.endsWith("/experiments")) return Response.json({ value: [{ name: "train-exp", experimentId: "1" }, { name: "Default", experimentId: "2" }] });
    asked.push(u.searchParams);
    return Response.json({ value: [] });
  });
  history.replaceState(null, "", "/studio/ws/sub/rg/ws/jobs");
  const me = { user: { name: "admin", objectId: "o", role: "Owner", tenantId: "t" }, canWrite: true, isOwner: true, kind: "cookie" as const };
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <SessionContext.Provider value={me}>
        <WorkspaceContext.Provider value={{ sub: "sub", rg: "rg", ws: "ws" }}>
          <Jobs />
        </WorkspaceContext.Provider>
      </SessionContext.Provider>
    </QueryClientProvider>,
  );
  return asked;
}

describe("Jobs search and filters", () => {
  it("asks the server once typing pauses, and keeps what is typed", async () => {
    const asked = renderJobs();
    await waitFor(() => expect(asked.length).toBeGreaterThan(0));
    const box = screen.getByLabelText("Search jobs") as HTMLInputElement;
    fireEvent.change(box, { target: { value: "stu" } });
    fireEvent.change(box, { target: { value: "studio " } });
    await waitFor(() => expect(asked.some((q) => q.get("mlwSearch") === "studio")).toBe(true));
    expect(asked.map((q) => q.get("mlwSearch")).filter(Boolean)).toEqual(["studio"]); // none for "stu"
    expect(new URLSearchParams(location.search).get("search")).toBe("studio");
    expect(box.value).toBe("studio "); // the space stays, to type the next word
    await screen.findByText("No jobs match");
  });
  it("picks the experiment from the experiments list", async () => {
    const asked = renderJobs();
    const pick = screen.getByLabelText("Experiment") as HTMLSelectElement;
    await waitFor(() => expect(Array.from(pick.options).map((o) => o.text)).toEqual(["All experiments", "Default", "train-exp"]));
    fireEvent.change(pick, { target: { value: "train-exp" } });
    await waitFor(() => expect(asked.at(-1)?.get("experimentName")).toBe("train-exp"));
    expect(pick.value).toBe("train-exp");
  });
});
