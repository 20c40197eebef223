// Headless Chromium (the system's, e.g. Debian `chromium`), driven by the Rust end-to-end tests
// through playwright-core, one JSON command per line on stdin, one JSON answer per line on stdout:
//
//   node browser.mjs <origin> <chromium executable> <artifact directory>
//
//   {"goto": url}                      → {"ok": true}
//   {"eval": "js expression"}          → {"ok": true, "value": …}   (awaited; JSON-serialisable)
//   {"waitFor": "js expression", "timeoutMs": n}  → {"ok": true, "value": …} once truthy
//   {"click": "css selector"}          → {"ok": true}
//   {"hover": "css selector"}          → {"ok": true}   (the mouse over it)
//   {"press": "key"}                   → {"ok": true}   (keyboard, on the focused element)
//   {"viewport": [width, height]}      → {"ok": true}
//   {"screenshot": "name.png"}         → {"ok": true, "path": …}
//   {"report": true}                   → {"ok": true, "outside": [urls], "consoleErrors": [texts]}
//   {"close": true}                    → {"ok": true}, then exits
//
// Every request to another origin is blocked and counted (HTTP, WebSocket); every console error
// and uncaught page error is kept. An answer {"ok": false, "error": …} reports a failed command.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [origin, executablePath, artifacts] = process.argv.slice(2);
const userDataDir = mkdtempSync(join(tmpdir(), 'techbalance-chromium-'));
const outside = [];
const consoleErrors = [];

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  viewport: { width: 1280, height: 900 },
});
const sameOrigin = (url) => {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || url === 'about:blank') return true;
    return u.host === new URL(origin).host;
  } catch {
    return false;
  }
};
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (sameOrigin(url)) return route.continue();
  outside.push(url);
  return route.abort('blockedbyclient');
});
context.on('request', (request) => {
  if (!sameOrigin(request.url()) && !outside.includes(request.url())) outside.push(request.url());
});
const page = context.pages()[0] ?? (await context.newPage());
page.on('websocket', (ws) => {
  if (!sameOrigin(ws.url().replace(/^ws/, 'http'))) outside.push(ws.url());
});
page.on('console', (message) => {
  if (message.type() === 'error') consoleErrors.push(message.text());
});
page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(command) {
  if ('goto' in command) {
    await page.goto(command.goto, { waitUntil: 'load' });
    return {};
  }
  if ('eval' in command) {
    return { value: await page.evaluate(command.eval) };
  }
  if ('waitFor' in command) {
    const deadline = Date.now() + (command.timeoutMs ?? 20000);
    let last;
    for (;;) {
      try {
        last = await page.evaluate(command.waitFor);
        if (last) return { value: last };
      } catch (error) {
        last = `threw: ${error.message}`;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${command.waitFor} (last: ${JSON.stringify(last)})`);
      }
      await sleep(100);
    }
  }
  if ('click' in command) {
    await page.click(command.click);
    return {};
  }
  if ('hover' in command) {
    await page.hover(command.hover);
    return {};
  }
  if ('press' in command) {
    await page.keyboard.press(command.press);
    return {};
  }
  if ('viewport' in command) {
    const [width, height] = command.viewport;
    await page.setViewportSize({ width, height });
    return {};
  }
  if ('screenshot' in command) {
    const path = join(artifacts, command.screenshot);
    await page.screenshot({ path, fullPage: command.fullPage ?? false });
    return { path };
  }
  if ('report' in command) {
    return { outside, consoleErrors };
  }
  if ('close' in command) {
    return {};
  }
  throw new Error(`unknown command ${JSON.stringify(command)}`);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let command;
  try {
    command = JSON.parse(line);
    const answer = await run(command);
    console.log(JSON.stringify({ ok: true, ...answer }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error) }));
  }
  if (command && 'close' in command) break;
}
await context.close();
rmSync(userDataDir, { recursive: true, force: true });
process.exit(0);
