// Opens the studio's Jobs page of a workspace with a long history and
// measures how long the first page takes to render, and the next one.
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
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}
