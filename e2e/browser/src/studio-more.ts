// Drives the studio's pages beyond the lab: a finished job's phase
// timeline (with why it waited), its code snapshot as a tree and a file of
// it, an output downloaded; the experiments list and the jobs table it
// filters; a custom environment's build log; a compute cluster created
// from the studio and another's preemption history, its scale settings
// edited in place; files of the Notebooks page made, uploaded (into the
// current folder, asking before a file is replaced), renamed and deleted;
// the jobs table searched on the server; a job re-submitted; sign-out.
// Screenshots at desktop and narrow widths, light and dark.
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
  user: string;
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
  experimentChosen: string;
  searchByDisplayName: string[];
  searchByName: string[];
  searchNone: string;
  searchRequests: string[];
  scaleSaved: boolean;
  files: {
    uploadFolder: string;
    afterUpload: string[];
    asked: string;
    askedTwice: string;
    final: string[];
    menuClosedOutside: boolean;
  };
  resubmitted: string;
  resubmittedInList: boolean;
  signedOut: { form: boolean; sessionStatus: number };
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
  out.experimentChosen = await page.getByLabel("Experiment", { exact: true }).inputValue();

  step("search the jobs on the server: by display name, by name, nothing");
  const searches: string[] = [];
  page.on("request", (r) => { if (r.url().includes("mlwSearch=")) searches.push(decodeURIComponent(new URL(r.url()).searchParams.get("mlwSearch") ?? "")); });
  const jobRows = (want: string) => page.waitForFunction((w) => [...document.querySelectorAll("tr[data-job]")].map((e) => e.getAttribute("data-job")).join(",") === w, want);
  const search = page.getByLabel("Search jobs");
  await page.getByLabel("Experiment", { exact: true }).selectOption("");
  await search.click();
  await page.keyboard.type("studio pages", { delay: 40 }); // as a person types: one query when they pause
  await jobRows(inp.job);
  out.searchByDisplayName = await texts(page, "tr[data-job]", "data-job");
  out.searchRequests = [...searches];
  await s.shot(page, "04b-jobs-search");
  await search.fill("SPOT");
  await jobRows(inp.preemptedJob);
  out.searchByName = await texts(page, "tr[data-job]", "data-job");
  await search.fill("no-such-job");
  await page.getByText("No jobs match").waitFor();
  out.searchNone = (await page.locator(".empty").textContent()) ?? "";
  await search.fill("");

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

  step("edit the cluster's scale settings in place");
  const scale = page.getByRole("region", { name: "Scale settings" });
  await scale.getByLabel("Maximum nodes").fill("2");
  await scale.getByLabel("Idle before scale down").fill("PT300S");
  await scale.getByRole("button", { name: "Save" }).click();
  await scale.locator("[data-saved]").waitFor();
  out.scaleSaved = true;
  await page.waitForFunction(() => /of at most 2/.test(document.querySelector(".props")?.textContent ?? ""));
  await scale.scrollIntoViewIfNeeded();
  await s.shot(page, "08b-cluster-scale-saved");

  step("Notebooks: a new folder, uploads into it (asked before replacing), rename, delete");
  await page.getByRole("link", { name: "Notebooks", exact: true }).click();
  const addFiles = page.getByRole("button", { name: "Add files" });
  // The menu closes on a click outside it.
  await addFiles.click();
  await page.getByRole("menu").waitFor();
  await page.locator(".editor-pane").click();
  const menuClosedOutside = (await page.getByRole("menu").count()) === 0;
  const folder = `Users/${inp.user}/data-in`;
  const choose = async (item: string) => {
    await addFiles.click();
    await page.getByRole("menuitem", { name: item }).click();
    return page.getByRole("dialog");
  };
  let d = await choose("Create new folder");
  await d.getByLabel("Folder location").selectOption(`Users/${inp.user}`);
  await d.getByLabel("Folder name").fill("data-in");
  await d.getByRole("button", { name: "Create" }).click();
  await d.waitFor({ state: "detached" });
  await page.locator(`.current-folder[data-current-folder="${folder}"]`).waitFor();
  const file = (name: string, text: string) => ({ name, mimeType: "text/plain", buffer: Buffer.from(text) });
  const tree = () => texts(page, `.tree li[data-path^="${folder}/"]`, "data-path");
  d = await choose("Upload files");
  const uploadFolder = await d.getByLabel("Upload to").inputValue();
  await d.getByLabel("Files to upload").setInputFiles([file("a.txt", "one\n"), file("b.csv", "x,y\n")]);
  await d.getByRole("button", { name: "Upload", exact: true }).click();
  await d.waitFor({ state: "detached" });
  await page.locator(`li[data-path="${folder}/b.csv"]`).waitFor();
  const afterUpload = await tree();
  // The same name again: asked, and replaced.
  d = await choose("Upload files");
  await d.getByLabel("Files to upload").setInputFiles([file("a.txt", "two\n")]);
  await d.getByRole("button", { name: "Upload", exact: true }).click();
  const asked = (await d.locator("[data-clashes]").textContent()) ?? "";
  await s.shot(page, "15-upload-asks");
  await d.getByRole("button", { name: "Replace" }).click();
  await d.waitFor({ state: "detached" });
  // A new file and an existing one: the existing one kept.
  d = await choose("Upload files");
  await d.getByLabel("Files to upload").setInputFiles([file("c.txt", "three\n"), file("a.txt", "not this\n")]);
  await d.getByRole("button", { name: "Upload", exact: true }).click();
  const askedTwice = (await d.locator("[data-clashes]").getAttribute("data-clashes")) ?? "";
  await d.getByRole("button", { name: "Keep the existing file" }).click();
  await d.waitFor({ state: "detached" });
  await page.locator(`li[data-path="${folder}/c.txt"]`).waitFor();
  // Rename a.txt, delete b.csv (their actions show on hover).
  const rowOf = (name: string) => page.locator(`li[data-path="${folder}/${name}"] > .tree-row`);
  await rowOf("a.txt").hover();
  await page.getByRole("button", { name: "Rename a.txt" }).click();
  d = page.getByRole("dialog");
  await d.getByLabel("New name").fill("renamed.txt");
  await d.getByRole("button", { name: "Rename" }).click();
  await d.waitFor({ state: "detached" });
  await page.locator(`li[data-path="${folder}/renamed.txt"]`).waitFor();
  await rowOf("b.csv").hover();
  await page.getByRole("button", { name: "Delete b.csv" }).click();
  d = page.getByRole("dialog");
  await d.getByRole("button", { name: "Delete" }).click();
  await d.waitFor({ state: "detached" });
  await page.locator(`li[data-path="${folder}/b.csv"]`).waitFor({ state: "detached" });
  await page.locator(".tree-item", { hasText: "renamed.txt" }).click();
  await page.locator(`.editor[data-path="${folder}/renamed.txt"] .cm-content`).waitFor();
  out.files = { uploadFolder, afterUpload, asked, askedTwice, final: await tree(), menuClosedOutside };
  await s.shot(page, "16-notebooks-files");

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
  await page.setViewportSize({ width: 1280, height: 860 });

  step("re-submit the finished job");
  await page.goto(`${inp.wsUrl}/jobs/${inp.job}`);
  await page.locator('li[data-phase="Queued"]').waitFor();
  await page.getByRole("button", { name: "Re-submit" }).click();
  await page.waitForURL((u) => /\/jobs\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith(`/jobs/${inp.job}`));
  out.resubmitted = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");
  await page.locator(".page-header .badge[data-state]").waitFor();
  await s.shot(page, "17-resubmitted");
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  await page.locator(`tr[data-job="${out.resubmitted}"]`).waitFor();
  out.resubmittedInList = true;

  step("sign out");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  out.signedOut = {
    form: await page.getByLabel("User name").isVisible(),
    sessionStatus: await page.evaluate(async () => (await fetch("/mlw/v1/session")).status),
  };
  await s.shot(page, "18-signed-out");
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}
