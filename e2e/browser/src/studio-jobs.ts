// Opens the studio's Jobs page of a workspace with a long history and
// measures how long the first page takes to render, and the next one; then
// searches the whole history (the server's mlwSearch), far past the pages
// loaded.
// Input (JSON file): see Input. Output (stdout): see Output.
import { input, start, step } from "./browser.js";

interface Input {
  signInUrl: string;
  jobsUrl: string;
  screenshots: string;
}

interface Output {
  firstPageMs: number;
  nextPageMs: number;
  rows: number;
  nextRows: number;
  firstJob: string;
  nextFirstJob: string;
  searchOneMs: number;
  searchOne: string[];
  searchMany: { rows: number; first: string; hasNext: boolean };
}

const inp = input<Input>();
const s = await start(inp.screenshots);
const out: Partial<Output> = {};
try {
  const page = await s.context.newPage();
  step("sign in");
  await page.goto(inp.signInUrl);
  await page.waitForURL(/\/studio\//);
  await page.getByRole("heading", { name: "Workspaces" }).waitFor();
  step("open the Jobs page");
  const t0 = Date.now();
  await page.goto(inp.jobsUrl);
  await page.locator("tr[data-job]").first().waitFor();
  out.firstPageMs = Date.now() - t0;
  out.rows = await page.locator("tr[data-job]").count();
  out.firstJob = (await page.locator("tr[data-job]").first().getAttribute("data-job")) ?? "";
  await s.shot(page, "jobs-page-1");
  step("next page");
  const t1 = Date.now();
  await page.getByRole("button", { name: "Next ›" }).click();
  await page.locator(`tr[data-job]:first-child:not([data-job="${out.firstJob}"])`).waitFor();
  out.nextPageMs = Date.now() - t1;
  out.nextRows = await page.locator("tr[data-job]").count();
  out.nextFirstJob = (await page.locator("tr[data-job]").first().getAttribute("data-job")) ?? "";
  await s.shot(page, "jobs-page-2");
  step("search the whole history");
  const rows = () => page.locator("tr[data-job]").evaluateAll((els) => els.map((e) => e.getAttribute("data-job") ?? ""));
  const t2 = Date.now();
  await page.getByLabel("Search jobs").fill("job_5000");
  await page.waitForFunction(() => [...document.querySelectorAll("tr[data-job]")].map((e) => e.getAttribute("data-job")).join(",") === "job_5000");
  out.searchOneMs = Date.now() - t2;
  out.searchOne = await rows();
  await s.shot(page, "jobs-search-one");
  await page.getByLabel("Search jobs").fill("JOB_99");
  await page.locator('tr[data-job="job_99"]').or(page.locator('tr[data-job="job_9999"]')).first().waitFor();
  await page.waitForFunction(() => !document.querySelector('tr[data-job="job_5000"]'));
  const many = await rows();
  out.searchMany = { rows: many.length, first: many[0] ?? "", hasNext: await page.getByRole("button", { name: "Next ›" }).isEnabled() };
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}
