// Drives the studio through the DP-100 compute lab's eight steps, as a
// person does it in Azure ML Studio, with a screenshot per step; then a
// Reader's view. Input (JSON file): see Input. Output (stdout): see Output.
import { type Page } from "playwright-core";
import { input, start, step } from "./browser.js";

interface Input {
  origin: string;
  signInUrl: string;
  user: string;
  group: string;
  workspace: string;
  setupScript: string;
  sshKey: string;
  otherUser: string;
  reader: { name: string; password: string };
  notebookFolders: string[];
  notebook: string;
  screenshots: string;
  timeoutMs: number;
}

interface Output {
  steps: string[];
  firstPageMs: number;
  savedText: string;
  instanceStates: string[];
  treeAfterSetup: string[];
  terminal: { echo: string; sizeBefore: string; sizeAfter: string; pasted: string; reconnected: string };
  otherTerminalReason: string;
  otherTerminalOpened: boolean;
  notebookOutputs: string;
  notebookErrors: string[];
  job: string;
  logTicksSeen: number[];
  logStatusWhileGrowing: string;
  logLatencyMs: number[];
  jobFinalStatus: string;
  groupGone: boolean;
  stopAt: string;
  instances: { studio: any; other: any };
  reader: { newReason: string; deleteGroupReason: string; addFilesReason: string; role: string };
}

const inp = input<Input>();
const s = await start(inp.screenshots);
const out: Partial<Output> = { steps: [] };
const T = inp.timeoutMs;
const done = async (page: Page, name: string) => {
  await s.shot(page, name);
  out.steps!.push(name);
  step(`done: ${name}`);
};

try {
  await s.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: inp.origin });
  const page = await s.context.newPage();
  page.on("pageerror", (e) => step(`page error: ${e.message}`));

  // 1. Open the workspace and Launch studio.
  step("1. sign in with the one-time link, open the workspace, Launch studio");
  const t0 = Date.now();
  await page.goto(inp.signInUrl);
  await page.waitForURL(/\/studio\//);
  await page.getByRole("heading", { name: "Workspaces" }).waitFor({ timeout: T });
  out.firstPageMs = Date.now() - t0;
  await page.getByRole("link", { name: "Resource groups", exact: true }).first().click();
  await page.getByRole("button", { name: inp.group, exact: true }).click();
  await page.locator(`a[data-launch="${inp.workspace}"]`).click();
  await page.getByRole("heading", { name: /Welcome to the studio/ }).waitFor();
  await done(page, "01-launch-studio");

  // 2. Notebooks > Add files > Create new file (Users/<you>, Bash), paste, Save.
  step("2. create compute-setup.sh in the Notebooks page");
  await page.getByRole("link", { name: "Notebooks", exact: true }).click();
  await page.getByRole("button", { name: "Add files" }).click();
  await page.getByRole("menuitem", { name: "Create new file" }).click();
  await page.getByLabel("File location").selectOption(`Users/${inp.user}`);
  await page.getByLabel("File type").selectOption({ label: "Bash (*.sh)" });
  await page.getByLabel("File name").fill("compute-setup.sh");
  await page.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  const editor = page.locator(`.editor[data-path="Users/${inp.user}/compute-setup.sh"] .cm-content`);
  await editor.waitFor({ timeout: T });
  await editor.click();
  // As a paste: the text arrives whole, without the editor's auto-indent.
  await page.keyboard.insertText(inp.setupScript);
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator(".save-state", { hasText: "Saved" }).waitFor();
  out.savedText = await editor.innerText();
  await done(page, "02-notebooks-setup-script");

  // 3. Compute > Compute instances > New, with every advanced option.
  step("3. create a compute instance with a schedule, the setup script and SSH");
  await page.getByRole("link", { name: "Compute", exact: true }).click();
  await page.getByRole("button", { name: "New", exact: true }).click();
  const dlg = page.getByRole("dialog");
  await dlg.getByLabel("Compute name", { exact: true }).fill("ci-studio");
  await dlg.getByLabel("CPU").check();
  await dlg.getByLabel("Search sizes").fill("DS11");
  await dlg.locator('tr[data-size="Standard_DS11_v2"]').click();
  await dlg.getByRole("button", { name: "Next: Advanced settings" }).click();
  await dlg.getByRole("button", { name: "Add schedule" }).click();
  // 18:00 as in the lab, unless that is near: a stop must not fire mid-test.
  const h = new Date().getUTCHours();
  out.stopAt = Math.abs(h - 18) <= 2 || Math.abs(h - 18) >= 22 ? "06:00" : "18:00";
  await dlg.getByLabel("Time", { exact: true }).fill(out.stopAt);
  await dlg.getByLabel("Time zone").fill("UTC");
  await dlg.getByText("Provision with setup script").click();
  await dlg.getByLabel("Setup script", { exact: true }).selectOption(`Users/${inp.user}/compute-setup.sh`);
  await dlg.getByText("Enable SSH access").click();
  await dlg.getByLabel("SSH public key", { exact: true }).fill(inp.sshKey);
  await dlg.getByText("Enable virtual network").waitFor();
  await dlg.getByText("Assign to another user").waitFor();
  await s.shot(page, "03a-advanced-settings");
  await dlg.getByRole("button", { name: "Create" }).click();
  await dlg.waitFor({ state: "detached" });
  const row = page.locator('tr[data-compute="ci-studio"]');
  const states = new Set<string>();
  for (;;) {
    const st = (await row.locator(".badge").getAttribute("data-state").catch(() => null)) ?? "";
    if (st) states.add(st);
    if (st === "Running") break;
    if (/fail/i.test(st)) throw new Error(`the instance is ${st}`);
    await page.waitForTimeout(100);
  }
  out.instanceStates = [...states];
  await done(page, "03-compute-instance-running");

  // The other options: an instance in its own network, for another user.
  step("3b. create an instance on a virtual network, assigned to another user");
  await page.getByRole("button", { name: "New", exact: true }).click();
  await dlg.getByLabel("Compute name", { exact: true }).fill("ci-other");
  await dlg.getByRole("button", { name: "Next: Advanced settings" }).click();
  await dlg.getByText("Enable virtual network").click();
  await dlg.getByText("Assign to another user").click();
  await dlg.getByLabel("User", { exact: true }).selectOption({ label: `${inp.otherUser} (Contributor)` });
  await dlg.getByRole("button", { name: "Create" }).click();
  await dlg.waitFor({ state: "detached" });
  const other = page.locator('tr[data-compute="ci-other"]');
  await other.locator('.badge[data-state="Running"]').waitFor({ timeout: T });
  out.otherTerminalReason = (await other.locator(".applink.off", { hasText: "Terminal" }).getAttribute("title")) ?? "";
  // What the API holds of both, for the test to check against the dialog.
  const computes = new URL(page.url()).pathname.replace(/^\/studio\/ws\/([^/]+)\/([^/]+)\/([^/]+)\/.*$/, "/subscriptions/$1/resourceGroups/$2/providers/Microsoft.MachineLearningServices/workspaces/$3/computes");
  const doc = (name: string) => page.evaluate(async (path: string) => (await fetch(path + "?api-version=2024-10-01")).json(), `${computes}/${name}`);
  out.instances = { studio: await doc("ci-studio"), other: await doc("ci-other") };

  // 4. Back in Notebooks: refresh, and the setup script's folder is there.
  step("4. refresh the Files pane");
  await page.getByRole("link", { name: "Notebooks", exact: true }).click();
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.locator(`li[data-path="Users/${inp.user}/setup-made-this"]`).waitFor({ timeout: T });
  out.treeAfterSetup = await page.locator(".tree li[data-path]").evaluateAll((els) => els.map((e) => e.getAttribute("data-path") ?? ""));
  await done(page, "04-notebooks-refreshed");

  // 5. The Terminal application.
  step("5. open the instance's terminal");
  await page.getByRole("link", { name: "Compute", exact: true }).click();
  await row.getByRole("link", { name: "Terminal" }).click();
  await page.locator('[data-status="connected"]').waitFor({ timeout: T });
  const term = page.locator(".term");
  const screen = () => term.locator(".xterm-rows").innerText();
  const typeLine = async (line: string, want: RegExp) => {
    await term.click();
    await page.keyboard.type(line + "\n");
    for (let i = 0; ; i++) {
      const text = await screen();
      const m = want.exec(text);
      if (m) return m[0];
      if (i > T / 100) throw new Error(`no ${want} in the terminal: ${text}`);
      await page.waitForTimeout(100);
    }
  };
  const echo = await typeLine("echo hello-$((6*7))", /hello-42/);
  const sizeBefore = await typeLine("echo size=$(stty size | tr ' ' x)", /size=\d+x\d+/);
  await page.setViewportSize({ width: 900, height: 620 });
  await term.click();
  await page.keyboard.type("clear\n");
  let sizeAfter = sizeBefore;
  for (let i = 0; sizeAfter === sizeBefore && i < 50; i++) {
    sizeAfter = await typeLine(`echo size${i}=$(stty size | tr ' ' x)`, new RegExp(`size${i}=\\d+x\\d+`));
    sizeAfter = sizeAfter.replace(/^size\d+=/, "size=");
    if (sizeAfter === sizeBefore) await page.waitForTimeout(100);
  }
  await page.evaluate(() => navigator.clipboard.writeText("echo pasted-$((2+3))\n"));
  await page.getByRole("button", { name: "Paste" }).click();
  const pasted = (await typeLine("", /pasted-5/));
  await term.click();
  await page.keyboard.type("exit\n");
  await page.locator('[data-status="closed"]').waitFor({ timeout: T });
  await page.getByRole("button", { name: "Reconnect" }).click();
  await page.locator('[data-status="connected"]').waitFor({ timeout: T });
  const reconnected = await typeLine("echo again-$((1+1))", /again-2/);
  out.terminal = { echo, sizeBefore, sizeAfter, pasted, reconnected };
  await done(page, "05-terminal");
  await page.setViewportSize({ width: 1280, height: 860 });

  // The other user's instance: its terminal does not open for this user.
  const otherUrl = await page.evaluate(async (path: string) => {
    const r = await fetch(path + "?api-version=2024-10-01");
    const d = await r.json();
    return d.properties.properties.applications.find((a: any) => a.displayName === "Terminal").endpointUri as string;
  }, new URL(page.url()).pathname.replace(/^\/studio\/ws\/([^/]+)\/([^/]+)\/([^/]+)\/.*$/, "/subscriptions/$1/resourceGroups/$2/providers/Microsoft.MachineLearningServices/workspaces/$3/computes/ci-other"));
  out.otherTerminalOpened = await page.evaluate((url: string) => new Promise<boolean>((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve(true); };
    ws.onclose = () => resolve(false);
  }), otherUrl);

  // 6. Open the notebook on the running instance and run all cells.
  step("6. open the notebook in the instance's Jupyter");
  await page.getByRole("link", { name: "Notebooks", exact: true }).click();
  for (const f of inp.notebookFolders) {
    const item = page.locator(`li[data-path$="/${f}"][aria-expanded]`).first();
    await item.waitFor({ timeout: T });
    if ((await item.getAttribute("aria-expanded")) !== "true") await item.locator(".tree-item").first().click();
  }
  await page.locator(".tree-item", { hasText: inp.notebook }).click();
  const openLink = page.locator("a[data-open-jupyter]");
  await openLink.waitFor({ timeout: T });
  const [nb] = await Promise.all([s.context.waitForEvent("page"), openLink.click()]);
  await nb.waitForLoadState();
  await nb.locator("#kernel_indicator_icon.kernel_idle_icon").waitFor({ timeout: T });
  await nb.locator("#celllink").click();
  await nb.locator("#run_all_cells").click();
  for (let i = 0; ; i++) {
    const text = (await nb.locator("#notebook-container .output_area").allInnerTexts()).join("\n");
    const errs = await nb.locator("#notebook-container .output_error").allInnerTexts();
    out.notebookOutputs = text;
    out.notebookErrors = errs;
    const m = /submitted: (\S+)/.exec(text);
    if (m) {
      out.job = m[1];
      break;
    }
    if (errs.length) throw new Error("notebook error: " + errs.join("\n"));
    if (i > T / 250) throw new Error("the notebook did not submit its job: " + text);
    await nb.waitForTimeout(250);
  }
  await s.shot(nb, "06-notebook-ran");
  out.steps!.push("06-notebook-ran");
  await nb.close();

  // 7. Jobs: the job appears; its log follows live.
  step("7. follow the job's log in the Jobs page");
  await page.bringToFront();
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  const jobRow = page.locator(`tr[data-job="${out.job}"]`);
  await jobRow.waitFor({ timeout: T });
  // The first link of the row is the job (the compute has one too).
  await jobRow.getByRole("link").first().click();
  await page.getByRole("tab", { name: "Outputs + logs" }).click();
  const log = page.locator("pre.log");
  // Record when each tick line reaches the page (the job prints its time).
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as any).__latency = seen;
    const pre = document.querySelector("pre.log")!;
    let done = 0;
    new MutationObserver(() => {
      const now = Date.now();
      const lines = (pre.textContent ?? "").split("\n");
      for (; done < lines.length - 1; done++) {
        const m = /^tick \d+ (\d{13})$/.exec(lines[done]);
        if (m) seen.push(now - Number(m[1]));
      }
    }).observe(pre, { childList: true, characterData: true, subtree: true });
  });
  const ticks = async () => [...(await log.innerText()).matchAll(/tick (\d+) /g)].map((m) => +m[1]);
  let first: number[] = [];
  for (let i = 0; first.length === 0; i++) {
    first = await ticks();
    if (i > T / 100) throw new Error("no log line reached the page");
    if (!first.length) await page.waitForTimeout(100);
  }
  const firstMax = Math.max(...first);
  let later = first;
  for (let i = 0; Math.max(...later) < firstMax + 10; i++) {
    later = await ticks();
    if (i > T / 100) throw new Error("the log stopped growing");
    await page.waitForTimeout(100);
  }
  out.logTicksSeen = [firstMax, Math.max(...later)];
  out.logStatusWhileGrowing = (await page.locator(".page-header .badge").first().getAttribute("data-state")) ?? "";
  out.logLatencyMs = await page.evaluate(() => (window as any).__latency as number[]);
  await done(page, "07-job-live-log");
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.locator('.page-header .badge[data-state="Canceled"]').waitFor({ timeout: T });
  out.jobFinalStatus = "Canceled";

  // A Reader, signed in with a password, sees the write actions disabled.
  step("a Reader's view");
  const rctx = await s.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  const rp = await rctx.newPage();
  const wsUrl = page.url().replace(/\/jobs\/.*$/, "");
  await rp.goto(wsUrl + "/compute");
  await rp.getByLabel("User name").fill(inp.reader.name);
  await rp.getByLabel("Password").fill(inp.reader.password);
  await rp.getByRole("button", { name: "Sign in" }).click();
  const newBtn = rp.getByRole("button", { name: "New", exact: true });
  await newBtn.waitFor({ timeout: T });
  await rp.locator('tr[data-compute="ci-studio"]').waitFor();
  out.reader = {
    role: await rp.locator(".role").innerText(),
    newReason: (await newBtn.getAttribute("data-reason")) ?? "",
    deleteGroupReason: "",
    addFilesReason: "",
  };
  await s.shot(rp, "09-reader-compute");
  await rp.getByRole("link", { name: "Notebooks", exact: true }).click();
  out.reader.addFilesReason = (await rp.getByRole("button", { name: "Add files" }).getAttribute("data-reason")) ?? "";
  await rp.getByRole("link", { name: "Resource groups", exact: true }).first().click();
  await rp.getByRole("button", { name: inp.group, exact: true }).click();
  out.reader.deleteGroupReason = (await rp.getByRole("button", { name: "Delete resource group" }).getAttribute("data-reason")) ?? "";
  await rctx.close();

  // 8. The portal: delete the resource group, confirmed by its name.
  step("8. delete the resource group");
  await page.getByRole("link", { name: "Resource groups", exact: true }).first().click();
  await page.getByRole("radio", { name: `Select ${inp.group}` }).check();
  await page.getByRole("button", { name: "Delete resource group" }).click();
  const confirm = page.getByRole("dialog");
  const del = confirm.getByRole("button", { name: "Delete", exact: true });
  if (await del.isEnabled()) throw new Error("Delete is enabled before the name is typed");
  await confirm.getByLabel("Type the resource group name to confirm").fill(inp.group);
  await del.click();
  await confirm.waitFor({ state: "detached" });
  await page.getByText("No resource groups").waitFor({ timeout: T });
  out.groupGone = true;
  await done(page, "08-resource-group-deleted");
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}
