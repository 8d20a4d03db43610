import { describe, expect, it } from "vitest";
import { preemptions, timeline, waitedMs } from "./timeline";

const phases = [
  { status: "NotStarted", time: "2026-03-02T10:00:00Z", reason: "Submitted; waiting to be queued." },
  { status: "Queued", time: "2026-03-02T10:00:01Z", reason: "Waiting for a node: cpu at 1/1 nodes, all busy." },
  { status: "Preparing", time: "2026-03-02T10:01:01Z", reason: "Preparing on node-1 (attempt 1)." },
  { status: "Running", time: "2026-03-02T10:01:03Z", reason: "Running on node node-1." },
  { status: "Completed", time: "2026-03-02T10:02:03Z" },
];

describe("timeline", () => {
  it("gives each phase its time and reason", () => {
    const rows = timeline(phases, "Completed.");
    expect(rows.map((r) => [r.status, r.ms])).toEqual([["NotStarted", 1000], ["Queued", 60_000], ["Preparing", 2000], ["Running", 60_000], ["Completed", null]]);
    expect(rows[1].reason).toBe("Waiting for a node: cpu at 1/1 nodes, all busy.");
    expect(rows[1].waited).toBe(true);
    expect(rows[4].reason).toBe("Completed.");
    expect(rows.some((r) => r.current)).toBe(false);
    expect(waitedMs(rows)).toBe(61_000);
  });
  it("runs the current phase until now, with the job's reason", () => {
    const now = Date.parse("2026-03-02T10:00:31Z");
    const rows = timeline(phases.slice(0, 2), "Waiting for a node: cpu is scaling up to 1 node.", now);
    expect(rows[1]).toMatchObject({ status: "Queued", ms: 30_000, current: true, reason: "Waiting for a node: cpu is scaling up to 1 node." });
  });
});

describe("preemptions", () => {
  it("collects preempted attempts, newest first, and says what followed", () => {
    const jobs = [
      { name: "a", properties: { displayName: "train a", status: "Running", mlw: { attempts: [{ attempt: 1, nodes: ["n1"], start: "2026-03-02T10:00:00Z", end: "2026-03-02T10:05:00Z", outcome: "Preempted", reason: "Node n1 was preempted." }] } } },
      { name: "b", properties: { status: "Failed", mlw: { error: { code: "JobPreempted" }, attempts: [
        { attempt: 1, nodes: ["n2"], start: "2026-03-02T09:00:00Z", end: "2026-03-02T09:01:00Z", outcome: "Preempted" },
        { attempt: 2, nodes: ["n3"], start: "2026-03-02T11:00:00Z", end: "2026-03-02T11:01:00Z", outcome: "Preempted" },
      ] } } },
      { name: "c", properties: { status: "Completed", mlw: {} } },
    ];
    const h = preemptions(jobs);
    expect(h.map((p) => [p.job, p.attempt, p.requeued])).toEqual([["b", 2, false], ["a", 1, true], ["b", 1, true]]);
    expect(h[1]).toMatchObject({ displayName: "train a", nodes: ["n1"], reason: "Node n1 was preempted." });
  });
});
