// Drives a job's Metrics tab and the compare page: a running job's charts
// grow as it logs (the driver tells it to go on by tagging its run with
// the page's own session), a finished one's charts, values table and
// tooltip; a sampled history of 100,000 points; the empty state; jobs
// selected in the Jobs list compared, and an experiment's runs. Screenshots
// at desktop and narrow widths, light and dark.
// Input (JSON file): see Input. Output (stdout): see Output.
import { type Page } from "playwright-core";
import { input, start, step } from "./browser.js";

interface Input {
  signInUrl: string;
  wsUrl: string; // /studio/ws/<sub>/<rg>/<ws> on the server
  mlflowApi: string; // the workspace's /mlflow/v1.0/…/api/2.0/mlflow
  live: string; // a running job, waiting for its run's tag continue=yes
  done: string; // a finished job, with a metric of 100,000 points
  none: string; // a finished job that logged nothing
  experiment: string;
  screenshots: string;
  timeoutMs: number;
}

interface Output {
  live: {
    before: number; after: number; reloaded: boolean; watched: boolean;
    charts: string[]; axes: Record<string, string>; scalars: string[]; lossLast: string; tooltip: string; status: string;
  };
  big: { points: number; lastStep: string };
  empty: string;
  compare: {
    url: string; runs: string[]; legend: string[]; params: Record<string, string>; differs: string[]; metrics: Record<string, string>;
    onlyDiffers: string[]; fromExpChosen: string[];
  };
}

const inp = input<Input>();
const s = await start(inp.screenshots);
const out: Partial<Output> = {};
const T = inp.timeoutMs;

const texts = async (page: Page, selector: string, attr?: string) =>
  page.locator(selector).evaluateAll((els, a) => els.map((e) => (a ? e.getAttribute(a) ?? "" : (e.textContent ?? "").replace(/\s+/g, " ").trim())), attr);

// seriesPoints waits until the chart of metric has a line of run with n
// points.
const seriesPoints = (page: Page, metric: string, run: string, n: number) =>
  page.locator(`figure[data-metric="${metric}"] g.series[data-run="${run}"][data-points="${n}"]`).waitFor();

// rowsByName reads a table section's rows: name → the row's text.
async function rowsByName(page: Page, section: string): Promise<Record<string, string>> {
  const rows = await page.locator(`tbody[data-section="${section}"] tr[data-name]`).evaluateAll((els) =>
    els.map((e) => [e.getAttribute("data-name") ?? "", (e.textContent ?? "").replace(/\s+/g, " ").trim()]));
  return Object.fromEntries(rows);
}

try {
  const page = await s.context.newPage();
  page.on("pageerror", (e) => step(`page error: ${e.message}`));
  page.setDefaultTimeout(T);
  let watched = false;
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname === "/mlw/v1/watch" && (u.searchParams.get("path") ?? "").includes("/runs/get?run_id=" + inp.live)) watched = true;
  });
  step("sign in");
  await page.goto(inp.signInUrl);
  await page.getByRole("heading", { name: "Workspaces" }).waitFor();

  step("a running job's Metrics tab: its first points");
  await page.goto(`${inp.wsUrl}/jobs/${inp.live}`);
  await page.getByRole("tab", { name: "Metrics" }).click();
  await seriesPoints(page, "loss", inp.live, 3);
  const live: Partial<Output["live"]> = { before: 3 };
  await s.shot(page, "01-metrics-live");
  await page.evaluate(() => ((window as any).mlwMark = 1));

  step("tell the job to go on, with the page's session (a tag on its run)");
  const tagged = await page.evaluate(async ({ api, run }) => {
    const me = await (await fetch("/mlw/v1/session")).json();
    const r = await fetch(api + "/runs/set-tag", {
      method: "POST", headers: { "Content-Type": "application/json", "X-Mlw-Csrf": me.csrfToken },
      body: JSON.stringify({ run_id: run, key: "continue", value: "yes" }),
    });
    return r.status;
  }, { api: inp.mlflowApi, run: inp.live });
  if (tagged !== 200) throw new Error(`set-tag answered ${tagged}`);

  step("the charts grow while the job runs, then it completes");
  await seriesPoints(page, "loss", inp.live, 20);
  live.after = 20;
  await page.locator('figure[data-metric="throughput"]').waitFor();
  await page.locator('.scalars tr[data-metric="final_auc"]').waitFor();
  await page.locator('.page-header .badge[data-state="Completed"]').waitFor();
  live.reloaded = await page.evaluate(() => (window as any).mlwMark !== 1);
  live.watched = watched;
  live.status = "Completed";
  live.charts = await texts(page, ".charts figure[data-metric]", "data-metric");
  const axes = await texts(page, ".charts figure[data-metric]", "data-x");
  live.axes = Object.fromEntries(live.charts.map((c, i) => [c, axes[i]]));
  live.scalars = await page.locator(".scalars tbody tr").evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].slice(0, 2).map((td) => (td.textContent ?? "").trim()).join(" ")));
  live.lossLast = (await page.locator('figure[data-metric="loss"] .chart-last').getAttribute("data-last")) ?? "";
  await s.shot(page, "02-metrics-done");

  step("hover the loss chart");
  const hit = page.locator('figure[data-metric="loss"] rect.hit');
  const box = (await hit.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const tip = page.locator('figure[data-metric="loss"] .chart-tip');
  await tip.waitFor();
  live.tooltip = ((await tip.textContent()) ?? "").trim();
  await s.shot(page, "03-metrics-hover");
  out.live = live as Output["live"];

  step("a finished job with 100,000 points of one metric");
  await page.goto(`${inp.wsUrl}/jobs/${inp.done}?tab=metrics`);
  const big = page.locator(`figure[data-metric="big"] g.series[data-run="${inp.done}"]`);
  await big.waitFor();
  out.big = { points: Number(await big.getAttribute("data-points")), lastStep: (await big.getAttribute("data-last-step")) ?? "" };
  await s.shot(page, "04-metrics-big");

  step("a job that logged nothing");
  await page.goto(`${inp.wsUrl}/jobs/${inp.none}?tab=metrics`);
  await page.getByText("This job logged no metrics").waitFor();
  out.empty = ((await page.locator(".empty").textContent()) ?? "").trim();
  await s.shot(page, "05-metrics-empty");

  step("compare two jobs selected in the Jobs list");
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  await page.getByLabel("Select live run to compare").check();
  await page.getByLabel("Select done run to compare").check();
  await s.shot(page, "06-jobs-selected");
  await page.getByRole("button", { name: "Compare (2)", exact: true }).click();
  await page.waitForURL(/\/compare\?runs=/);
  await seriesPoints(page, "loss", inp.live, 20);
  await seriesPoints(page, "loss", inp.done, 20);
  const c: Partial<Output["compare"]> = { url: page.url() };
  c.runs = await texts(page, 'figure[data-metric="loss"] g.series', "data-run");
  c.legend = await texts(page, 'figure[data-metric="loss"] .legend li');
  c.params = await rowsByName(page, "params");
  c.metrics = await rowsByName(page, "metrics");
  c.differs = await texts(page, "tbody tr.differs", "data-name");
  await s.shot(page, "07-compare");
  await page.locator(".compare-table").scrollIntoViewIfNeeded();
  await s.shot(page, "08-compare-table");
  await page.getByLabel("Only what differs").check();
  c.onlyDiffers = await texts(page, "tbody tr[data-name]", "data-name");

  step("compare an experiment's runs");
  await page.goto(`${inp.wsUrl}/jobs?tab=experiments`);
  await page.getByRole("link", { name: `Compare the runs of ${inp.experiment}` }).click();
  await page.waitForURL(/\/compare\?runs=/);
  await page.locator(".run-picker tr.selected").nth(2).waitFor();
  await page.locator('figure[data-metric="loss"] g.series').nth(1).waitFor();
  c.fromExpChosen = await texts(page, ".run-picker tr.selected", "data-run");
  await s.shot(page, "09-compare-experiment");
  out.compare = c as Output["compare"];

  step("narrow and dark");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 420, height: 860 });
  await page.reload();
  await page.locator('figure[data-metric="loss"] g.series').nth(1).waitFor();
  await s.shot(page, "10-narrow-dark-compare");
  await page.goto(`${inp.wsUrl}/jobs/${inp.live}?tab=metrics`);
  await seriesPoints(page, "loss", inp.live, 20);
  await s.shot(page, "11-narrow-dark-metrics");
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`${inp.wsUrl}/compare?runs=${inp.live},${inp.done}`);
  await seriesPoints(page, "loss", inp.done, 20);
  await s.shot(page, "12-dark-compare");
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}
