import { describe, expect, it } from "vitest";
import { ago, shortDuration, buildTree, dailySchedule, describeSchedule, duration, fileName, languageOf, resubmitName, resubmitProperties, scheduleTime, stateTone, writeReason } from "./util";
import { parseWorkspaceId, withVersion, wsPath } from "./api";

describe("duration and ago", () => {
  it("formats durations", () => {
    expect(duration(0)).toBe("0s");
    expect(duration(65_000)).toBe("1m 5s");
    expect(duration(3_725_000)).toBe("1h 2m");
    expect(duration(-1)).toBe("");
    expect(shortDuration(350)).toBe("350 ms");
    expect(shortDuration(2460)).toBe("2.4s");
    expect(shortDuration(65_000)).toBe("1m 5s");
  });
  it("says how long ago", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(ago("2026-01-01T11:59:30Z", now)).toBe("just now");
    expect(ago("2026-01-01T11:48:00Z", now)).toBe("12 min ago");
    expect(ago(undefined, now)).toBe("");
  });
});

describe("buildTree", () => {
  it("nests paths, folders first, and makes up missing parents", () => {
    const t = buildTree([
      { path: "Users/admin/compute-setup.sh", isDirectory: false, size: 10 },
      { path: "Users/admin/Labs", isDirectory: true },
      { path: "Users/admin/Labs/04/Work with compute.ipynb", isDirectory: false },
      { path: "README.md", isDirectory: false },
    ]);
    expect(t.children.map((c) => c.name)).toEqual(["Users", "README.md"]);
    const admin = t.children[0].children[0];
    expect(admin.path).toBe("Users/admin");
    expect(admin.children.map((c) => c.name)).toEqual(["Labs", "compute-setup.sh"]);
    expect(admin.children[0].children[0].children[0].path).toBe("Users/admin/Labs/04/Work with compute.ipynb");
  });
});

describe("files", () => {
  it("checks names and adds the extension", () => {
    expect(fileName("compute-setup", ".sh")).toEqual({ name: "compute-setup.sh" });
    expect(fileName("compute-setup.sh", ".sh")).toEqual({ name: "compute-setup.sh" });
    expect(fileName("  ", ".sh").error).toMatch(/name/);
    expect(fileName("a/b", ".sh").error).toMatch(/cannot contain/);
  });
  it("picks highlighting by extension", () => {
    expect(languageOf("x/compute-setup.sh")).toBe("shell");
    expect(languageOf("train.PY")).toBe("python");
    expect(languageOf("job.yml")).toBe("yaml");
    expect(languageOf("notes")).toBe("text");
  });
});

describe("schedules", () => {
  it("writes Azure's computeStartStop entry for a daily stop", () => {
    const s = dailySchedule("Stop", "18:00", "W. Europe Standard Time");
    expect(s).toEqual({ action: "Stop", triggerType: "Cron", status: "Enabled", cron: { expression: "0 18 * * *", timeZone: "W. Europe Standard Time" } });
    expect(describeSchedule(s)).toBe("Stop every day at 18:00 (W. Europe Standard Time)");
    expect(scheduleTime(s)).toBe("18:00");
    expect(() => dailySchedule("Stop", "25:00", "UTC")).toThrow(/HH:MM/);
  });
});

describe("api paths", () => {
  it("builds and parses workspace paths", () => {
    const w = { sub: "s-1", rg: "rg-dp100-labs", ws: "mlw dp100" };
    const p = wsPath(w);
    expect(p).toBe("/subscriptions/s-1/resourceGroups/rg-dp100-labs/providers/Microsoft.MachineLearningServices/workspaces/mlw%20dp100");
    expect(parseWorkspaceId(p + "/jobs/x")).toEqual(w);
    expect(parseWorkspaceId("/nope")).toBeNull();
    expect(withVersion(p)).toMatch(/\?api-version=/);
    expect(withVersion(p + "/jobs?$top=5")).toMatch(/&api-version=/);
    expect(withVersion("/mlw/v1/session")).toBe("/mlw/v1/session");
  });
});

describe("roles", () => {
  it("explains why a Reader cannot write", () => {
    expect(writeReason("Contributor")).toBeNull();
    expect(writeReason("Owner")).toBeNull();
    expect(writeReason("Reader")).toMatch(/Readers can look/);
  });
  it("colours states", () => {
    expect(stateTone("Running")).toBe("ok");
    expect(stateTone("Creating")).toBe("busy");
    expect(stateTone("Failed")).toBe("bad");
  });
});

import { match } from "./router";
describe("router", () => {
  it("matches patterns", () => {
    expect(match("/ws/:sub/:rg/:ws/*", "/ws/s/rg/w/compute/ci-1")).toEqual({ sub: "s", rg: "rg", ws: "w", "*": "compute/ci-1" });
    expect(match("/resource-groups", "/Resource-Groups")).toEqual({});
    expect(match("/runs/:name", "/runs")).toBeNull();
  });
});

describe("resubmitProperties", () => {
  const job = {
    name: "train_1",
    properties: {
      jobType: "Command", command: "python train.py ${{outputs.model}}", computeId: "cpu", displayName: "train_1", experimentName: "exp",
      status: "Completed", services: { Studio: {} }, mlw: { phases: [] }, parameters: {}, creationContext: {}, logFiles: {},
      inputs: { data: { jobInputType: "uri_folder", uri: "azureml://datastores/workspaceblobstore/paths/azureml/train_1/model/" } },
      outputs: {
        default: { jobOutputType: "uri_folder", uri: "azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.train_1" },
        model: { jobOutputType: "uri_folder", mode: "ReadWriteMount", uri: "azureml://datastores/workspaceblobstore/paths/azureml/train_1/model/" },
        metrics: { jobOutputType: "uri_file", uri: "azureml://datastores/workspaceblobstore/paths/azureml/train_1/metrics" },
        mine: { jobOutputType: "uri_folder", uri: "azureml://datastores/workspaceblobstore/paths/models/keep/" },
      },
    },
  };
  it("drops what the server filled in for the first job, so that it fills the new job's own", () => {
    const p = resubmitProperties(job);
    for (const k of ["status", "services", "mlw", "parameters", "creationContext", "logFiles", "displayName"]) expect(p).not.toHaveProperty(k);
    expect(Object.keys(p.outputs)).toEqual(["model", "metrics", "mine"]);
    expect(p.outputs.model).toEqual({ jobOutputType: "uri_folder", mode: "ReadWriteMount" });
    expect(p.outputs.metrics).toEqual({ jobOutputType: "uri_file" });
    expect(p.outputs.mine.uri).toBe("azureml://datastores/workspaceblobstore/paths/models/keep/");
    // What the job reads, what it runs and its experiment stay as they were.
    expect(p.inputs).toEqual(job.properties.inputs);
    expect(p.command).toBe(job.properties.command);
    expect(p.experimentName).toBe("exp");
    expect(job.properties.outputs.model.uri).toContain("/train_1/model/"); // the job itself is unchanged
  });
  it("keeps a display name the user gave", () => {
    expect(resubmitProperties({ ...job, properties: { ...job.properties, displayName: "Train" } }).displayName).toBe("Train");
  });
  it("names the re-run after the job, not after an earlier re-run", () => {
    const now = Date.parse("2026-03-02T10:00:00Z");
    const n = resubmitName("train_1", now);
    expect(n).toBe("train_1_r" + now.toString(36));
    expect(resubmitName(n, now + 1)).toBe("train_1_r" + (now + 1).toString(36));
  });
});
