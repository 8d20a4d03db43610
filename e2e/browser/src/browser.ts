// Shared set-up of mlw's browser tests: Debian's chromium, headless,
// driven by playwright-core (which never downloads a browser of its own).
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// The flags the machine notes give for chromium on a closed network: no
// background connections, no first-run work.
const flags = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export interface Session {
  browser: Browser;
  context: BrowserContext;
  shots: string;
  shot(page: Page, name: string): Promise<void>;
}

export async function start(shots: string): Promise<Session> {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.MLW_CHROMIUM ?? "/usr/bin/chromium",
    args: flags,
    headless: true,
  });
  // mlw's CA is not in chromium's store on a test machine; the server's
  // certificate is still served and checked by the test's HTTP client.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  return {
    browser, context, shots,
    async shot(page, name) {
      await page.screenshot({ path: join(shots, name + ".png"), fullPage: false });
    },
  };
}

// input reads the JSON file named by the first argument.
export function input<T>(): T {
  const path = process.argv[2];
  if (!path) throw new Error("usage: node dist/<driver>.js <input.json>");
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

// step logs progress on stderr (the Go test shows it when it fails).
export function step(msg: string): void {
  process.stderr.write(`[${new Date().toISOString()}] ${msg}\n`);
}
