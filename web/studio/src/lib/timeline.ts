// A job's status timeline from its properties.mlw: the phases it went
// through, how long each took, and why (a phase keeps the reason the job
// had when it left it; the current one has the job's reason).

export interface Phase {
  status: string;
  time: string;
  reason?: string;
}

export interface Attempt {
  attempt: number;
  nodes?: string[];
  start: string;
  end: string;
  outcome: string;
  reason?: string;
}

export interface TimelineRow {
  status: string;
  start: number;
  ms: number | null; // null: a final status (no end)
  reason: string;
  current: boolean;
  waited: boolean; // a phase spent waiting (NotStarted, Queued)
}

const final = new Set(["Completed", "Failed", "Canceled"]);
const waiting = new Set(["NotStarted", "Queued"]);

// timeline turns phases into rows; the last phase runs until now unless
// the job has ended.
export function timeline(phases: Phase[], reason: string | undefined, now = Date.now()): TimelineRow[] {
  return phases.map((p, i) => {
    const start = Date.parse(p.time);
    const last = i === phases.length - 1;
    const end = last ? (final.has(p.status) ? null : now) : Date.parse(phases[i + 1].time);
    return {
      status: p.status,
      start,
      ms: end == null ? null : Math.max(0, end - start),
      reason: (last ? reason : p.reason) ?? "",
      current: last && !final.has(p.status),
      waited: waiting.has(p.status),
    };
  });
}

// waitedMs is the time a job spent waiting (submitted and queued) in all.
export function waitedMs(rows: TimelineRow[]): number {
  return rows.filter((r) => r.waited).reduce((n, r) => n + (r.ms ?? 0), 0);
}

// Preemption is one attempt of a job that ended with its node preempted.
export interface Preemption {
  job: string;
  displayName: string;
  attempt: number;
  nodes: string[];
  start: string;
  end: string;
  reason: string;
  requeued: boolean; // false: the job failed with it (too many attempts)
}

// preemptions collects the preempted attempts of a cluster's jobs, newest
// first.
export function preemptions(jobs: any[]): Preemption[] {
  const out: Preemption[] = [];
  for (const j of jobs) {
    const m = j?.properties?.mlw ?? {};
    const attempts: Attempt[] = m.attempts ?? [];
    for (const a of attempts) {
      if (a.outcome !== "Preempted") continue;
      const failed = m.error?.code === "JobPreempted" && a.attempt === attempts[attempts.length - 1].attempt && j.properties?.status === "Failed";
      out.push({ job: j.name, displayName: j.properties?.displayName || j.name, attempt: a.attempt, nodes: a.nodes ?? [],
        start: a.start, end: a.end, reason: a.reason ?? "", requeued: !failed });
    }
  }
  return out.sort((a, b) => Date.parse(b.end) - Date.parse(a.end));
}
