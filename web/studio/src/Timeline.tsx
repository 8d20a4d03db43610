// A job's status timeline: one bar with a segment per phase (its width the
// phase's share of the time), then each phase with when it began, how long
// it took and why — for a queued phase, why the job waited.
import { useEffect, useState } from "react";
import { timeline, waitedMs, type Attempt, type Phase } from "./lib/timeline";
import { shortDuration, stateTone } from "./lib/util";
import { Badge } from "./ui";

function useNow(live: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [live]);
  return now;
}

export function Timeline({ phases, reason, attempts }: { phases: Phase[]; reason?: string; attempts?: Attempt[] }) {
  const live = phases.length > 0 && !["Completed", "Failed", "Canceled"].includes(phases[phases.length - 1].status);
  const now = useNow(live);
  const rows = timeline(phases, reason, now);
  const total = rows.reduce((n, r) => n + (r.ms ?? 0), 0);
  const waited = waitedMs(rows);
  if (rows.length === 0) return <p className="hint">The job has not been admitted yet.</p>;
  return (
    <div className="timeline-view">
      <div className="phasebar" aria-hidden="true">
        {rows.filter((r) => r.ms != null).map((r, i) => (
          <span key={i} className={"seg " + stateTone(r.status) + (r.waited ? " waited" : "")}
            style={{ flexGrow: total > 0 ? Math.max(r.ms!, total / 100) : 1 }} title={`${r.status} ${shortDuration(r.ms!)}`} />
        ))}
      </div>
      <p className="hint">
        {total > 0 && <>In all {shortDuration(total)}; </>}waited {shortDuration(waited)} before it ran
        {rows.some((r) => r.status === "Running") ? "." : " (it has not run yet)."}
      </p>
      <ol className="timeline" aria-label="Phases">
        {rows.map((r, i) => (
          <li key={i} data-phase={r.status} className={r.current ? "current" : ""}>
            <div className="phase-head">
              <Badge state={r.status} />
              <time dateTime={new Date(r.start).toISOString()} className="hint">{new Date(r.start).toLocaleTimeString()}</time>
              {r.ms != null && <span className="phase-ms">{shortDuration(r.ms)}{r.current ? " so far" : ""}</span>}
            </div>
            {r.reason && <div className={"phase-reason" + (r.waited ? " waited" : "")} data-reason>{r.waited ? "Why it waited: " : ""}{r.reason}</div>}
          </li>
        ))}
      </ol>
      {attempts && attempts.length > 0 && (
        <>
          <h3>Earlier attempts</h3>
          <ul className="attempts">
            {attempts.map((a) => (
              <li key={a.attempt}>
                Attempt {a.attempt} on {(a.nodes ?? []).join(", ") || "its node"}: <Badge state={a.outcome} /> after {shortDuration(Date.parse(a.end) - Date.parse(a.start))}
                {a.reason && <span className="hint"> · {a.reason}</span>}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
