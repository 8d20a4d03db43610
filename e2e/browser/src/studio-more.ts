// Drives the studio's pages beyond the lab: a finished job's phase
// timeline (with why it waited), its code snapshot as a tree and a file of
// it, an output downloaded; the experiments list and the jobs table it
// filters; a custom environment's build log; a compute cluster created
// from the studio and another's preemption history. Screenshots at
// desktop and narrow widths, light and dark.
// Input (JSON file): see Input. Output (stdout): see Output.
import { readFileSync } from "node:fs";
import { type Page } from "playwright-core";
import { input, start, step } from "./browser.js";

interface Input {
  signInUrl: string;
  wsUrl: string; // /studio/ws/<sub>/<rg>/<ws> on the server
  job: string;
  experiment: string;
  environment: string;
  newCluster: { name: string; size: string; max: string; idleSeconds: string };
  preemptedCluster: string;
  preemptedJob: string;
  screenshots: string;
  timeoutMs: number;
}

interface Output {
  queuedReason: string;
  phases: string[];
  codeTree: string[];
  codeText: string;
  downloadName: string;
  downloadText: string;
  namedOutputFiles: string[];
  experimentRow: string;
  filteredJobs: string[];
  buildStatus: string;
  buildLog: string;
  clusterRow: string;
  preemptionRows: string[];
  narrowNavHidden: boolean;
}

const inp = input<Input>();
const s = await start(inp.screenshots);
const out: Partial<Output> = {};
const T = inp.timeoutMs;

const texts = async (page: Page, selector: string, attr?: string) =>
  page.locator(selector).evaluateAll((els, a) => els.map((e) => (a ? e.getAttribute(a) ?? "" : (e.textContent ?? "").trim())), attr);

try {
  const page = await s.context.newPage();
  page.on("pageerror", (e) => step(`page error: ${e.message}`));
  page.setDefaultTimeout(T);
  step("sign in");
  await page.goto(inp.signInUrl);
  await page.getByRole("heading", { name: "Workspaces" }).waitFor();

  step("a finished job: its phase timeline");
  await page.goto(`${inp.wsUrl}/jobs/${inp.job}`);
  const queued = page.locator('li[data-phase="Queued"] [data-reason]');
  await queued.waitFor();
  out.queuedReason = (await queued.textContent()) ?? "";
  out.phases = await texts(page, "li[data-phase]", "data-phase");
  await s.shot(page, "01-job-timeline");

  step("its code snapshot");
  await page.getByRole("tab", { name: "Code" }).click();
  await page.getByRole("tree", { name: "Code snapshot" }).waitFor();
  out.codeTree = await texts(page, '[aria-label="Code snapshot"] li[data-path]', "data-path");
  await page.getByRole("tree", { name: "Code snapshot" }).getByRole("button", { name: /train\.py/ }).click();
  const code = page.locator('.editor[data-path="train.py"] .cm-content');
  await code.waitFor();
  await page.waitForFunction(() => (document.querySelector('.editor[data-path="train.py"] .cm-content')?.textContent ?? "").includes("result.txt"));
  out.codeText = (await code.textContent()) ?? "";
  await s.shot(page, "02-job-code");

  step("its outputs: download one");
  await page.getByRole("tab", { name: "Outputs + logs" }).click();
  const link = page.locator('[data-output="default"] a[aria-label="Download outputs/result.txt"]');
  await link.waitFor();
  const [dl] = await Promise.all([page.waitForEvent("download"), link.click()]);
  out.downloadName = dl.suggestedFilename();
  out.downloadText = readFileSync(await dl.path(), "utf8");
  await page.locator('[data-output="model"] li[data-path]').first().waitFor();
  out.namedOutputFiles = await texts(page, '[data-output="model"] li[data-path]', "data-path");
  await page.locator('[aria-label="Outputs"]').scrollIntoViewIfNeeded();
  await s.shot(page, "03-job-outputs");

  step("experiments, and the jobs table filtered by one");
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  await page.getByRole("tab", { name: "All experiments" }).click();
  const row = page.locator(`tr[data-experiment="${inp.experiment}"]`);
  await row.waitFor();
  out.experimentRow = (await row.textContent()) ?? "";
  await s.shot(page, "04-experiments");
  await row.getByRole("link", { name: inp.experiment, exact: true }).click();
  await page.waitForURL(/experiment=/);
  await page.locator("tr[data-job]").first().waitFor();
  out.filteredJobs = await texts(page, "tr[data-job]", "data-job");

  step("a custom environment's build log");
  await page.getByRole("link", { name: "Environments", exact: true }).click();
  await page.getByRole("tab", { name: /Custom environments/ }).click();
  await page.getByRole("link", { name: inp.environment, exact: true }).click();
  const build = page.locator("[data-build]");
  await page.locator('[data-build="Succeeded"], [data-build="Failed"]').waitFor();
  out.buildStatus = (await build.getAttribute("data-build")) ?? "";
  out.buildLog = (await page.locator('pre[data-log="build"]').textContent()) ?? "";
  await s.shot(page, "05-environment-build");

  step("create a compute cluster");
  await page.getByRole("link", { name: "Compute", exact: true }).click();
  await page.getByRole("tab", { name: "Compute clusters" }).click();
  await page.getByRole("button", { name: "New" }).click();
  const dlg = page.getByRole("dialog", { name: "Create compute cluster" });
  await dlg.getByLabel("Compute name").fill(inp.newCluster.name);
  await dlg.getByLabel("Low priority").check();
  await dlg.locator(`tr[data-size="${inp.newCluster.size}"]`).click();
  await dlg.getByLabel("Maximum number of nodes").fill(inp.newCluster.max);
  await dlg.getByLabel("Idle seconds before scale down").fill(inp.newCluster.idleSeconds);
  await s.shot(page, "06-new-cluster");
  await dlg.getByRole("button", { name: "Create" }).click();
  await dlg.waitFor({ state: "detached" });
  const crow = page.locator(`tr[data-compute="${inp.newCluster.name}"]`);
  await crow.locator('[data-state="Steady"]').waitFor();
  out.clusterRow = (await crow.textContent()) ?? "";
  await s.shot(page, "07-cluster-created");

  step("a low-priority cluster's preemption history");
  await page.goto(`${inp.wsUrl}/compute/${inp.preemptedCluster}`);
  await page.locator(`tr[data-preemption="${inp.preemptedJob}"]`).first().waitFor();
  out.preemptionRows = await texts(page, "tr[data-preemption]");
  await page.getByRole("region", { name: "Preemptions" }).scrollIntoViewIfNeeded();
  await s.shot(page, "08-cluster-preemptions");

  step("narrow and dark");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${inp.wsUrl}/jobs/${inp.job}`);
  await page.locator('li[data-phase="Queued"] [data-reason]').waitFor();
  out.narrowNavHidden = !(await page.locator("nav.sidenav").isVisible());
  await s.shot(page, "09-narrow-dark-timeline");
  await page.getByRole("tab", { name: "Code" }).click();
  await page.getByRole("tree", { name: "Code snapshot" }).getByRole("button", { name: /train\.py/ }).click();
  await page.locator('.editor[data-path="train.py"] .cm-content').waitFor();
  await s.shot(page, "10-narrow-dark-code");
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.getByRole("tab", { name: "Outputs + logs" }).click();
  await page.locator('[data-output="default"] li[data-path]').first().waitFor();
  await s.shot(page, "11-dark-outputs");
  await page.goto(`${inp.wsUrl}/compute/${inp.preemptedCluster}`);
  await page.locator("tr[data-preemption]").first().waitFor();
  await s.shot(page, "12-dark-cluster");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${inp.wsUrl}/environments/${inp.environment}`);
  await page.locator('[data-build="Succeeded"], [data-build="Failed"]').waitFor();
  await s.shot(page, "13-narrow-dark-environment");
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto(`${inp.wsUrl}/jobs?tab=experiments`);
  await page.locator(`tr[data-experiment="${inp.experiment}"]`).waitFor();
  await s.shot(page, "14-narrow-experiments");
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}
