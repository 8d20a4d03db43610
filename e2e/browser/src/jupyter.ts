// Drives an mlw compute instance's Jupyter (classic Notebook 6) as a user
// does: open the one-time sign-in link, walk the file share's tree to a
// notebook, check its kernel, run all cells and read the outputs.
// Input (JSON file): see Input. Output (stdout): see Output.
import { type Page } from "playwright-core";
import { input, start, step } from "./browser.js";

interface Input {
  signInUrl: string;
  // Folders to click through from the tree's root, then the notebook.
  folders: string[];
  notebook: string;
  // Text that must appear in the outputs once all cells ran.
  expect: string;
  screenshots: string;
  timeoutMs: number;
  // A notebook (URL) whose kernel does not exist: Jupyter must prompt.
  unknownKernelUrl?: string;
}

interface Output {
  treeUrl: string;
  signInToTreeMs: number;
  kernel: string;
  outputs: string;
  errors: string[];
  reusedLinkStatus: number;
  reusedLinkText: string;
  unknownKernelPrompt: string;
  unknownKernelChoice: string;
}

const inp = input<Input>();
const s = await start(inp.screenshots);
const out: Partial<Output> = {};
try {
  const page = await s.context.newPage();
  step("open the sign-in link");
  const t0 = Date.now();
  await page.goto(inp.signInUrl);
  await page.waitForURL(/\/jupyter\/tree/, { timeout: 30_000 });
  await page.locator("#notebook_list .list_item a.item_link").first().waitFor({ timeout: 30_000 });
  out.signInToTreeMs = Date.now() - t0;
  out.treeUrl = page.url();
  await s.shot(page, "01-signed-in-tree");

  for (const f of inp.folders) {
    step(`open folder ${f}`);
    await page.locator("#notebook_list a.item_link", { hasText: f }).first().click();
    await page.waitForURL(new RegExp("/tree/.*" + encodeURIComponent(f).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "/?$"));
    await page.locator("#notebook_list .list_item a.item_link").first().waitFor();
  }
  await s.shot(page, "02-notebook-folder");

  step(`open notebook ${inp.notebook}`);
  // Notebook 6 opens notebooks in a new tab.
  const [nb] = await Promise.all([
    s.context.waitForEvent("page"),
    page.locator("#notebook_list a.item_link", { hasText: inp.notebook }).first().click(),
  ]);
  await nb.waitForLoadState();
  await idle(nb, 60_000);
  out.kernel = (await nb.locator("#kernel_indicator .kernel_indicator_name").innerText()).trim();
  await s.shot(nb, "03-notebook-open");

  step("Cell > Run All");
  await nb.locator("#celllink").click();
  await nb.locator("#run_all_cells").click();
  // Busy first, then idle with the expected output (or an error).
  const deadline = Date.now() + inp.timeoutMs;
  for (;;) {
    const text = await nb.locator("#notebook-container .output_area").allInnerTexts();
    const errs = await nb.locator("#notebook-container .output_error").allInnerTexts();
    const busy = await nb.locator("#kernel_indicator_icon.kernel_busy_icon").count();
    const pending = await nb.locator("#notebook-container .input_prompt", { hasText: "[*]" }).count();
    out.outputs = text.join("\n");
    out.errors = errs;
    if (errs.length > 0 || (busy === 0 && pending === 0 && out.outputs.includes(inp.expect))) break;
    if (Date.now() > deadline) {
      step("timed out waiting for the cells");
      break;
    }
    await nb.waitForTimeout(500);
  }
  await nb.locator("#notebook-container .output_area", { hasText: inp.expect }).last().scrollIntoViewIfNeeded().catch(() => {});
  await s.shot(nb, "04-all-cells-ran");

  if (inp.unknownKernelUrl) {
    step("open a notebook with an unknown kernel");
    const unk = await s.context.newPage();
    await unk.goto(inp.unknownKernelUrl);
    const dialog = unk.locator(".modal-dialog", { hasText: "Kernel not found" });
    await dialog.waitFor({ timeout: 30_000 });
    out.unknownKernelPrompt = (await dialog.innerText()).trim();
    out.unknownKernelChoice = await dialog.locator("select option:checked").innerText().catch(() => "");
    await s.shot(unk, "05-unknown-kernel");
    await unk.close();
  }

  step("open the sign-in link again");
  const again = await s.context.newPage();
  const resp = await again.goto(inp.signInUrl);
  out.reusedLinkStatus = resp?.status() ?? 0;
  out.reusedLinkText = await again.locator("body").innerText();
  await s.shot(again, "06-reused-link");
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
  await s.browser.close();
}

async function idle(page: Page, timeout: number): Promise<void> {
  await page.locator("#kernel_indicator_icon.kernel_idle_icon").waitFor({ timeout });
}
