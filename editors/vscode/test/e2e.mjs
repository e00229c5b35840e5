// Drives code-server (a real VS Code 1.100 workbench) with playwright-core and Debian's chromium:
// the nib extension must show its status, ghost text that Tab accepts (and nib logs the
// acceptance), ghost text that Escape dismisses and ghost text typed over (each one rejection in
// nib's events, sent by the extension as nib/didRejectCompletion), and the code action commands
// with their edit and explanation panel.
//
// Started by run.sh with: URL (the workbench with the workspace open), WORKSPACE (its folder),
// NIB_LOG (nib's log file), ARTIFACTS (screenshots go there), CHROMIUM (the browser binary),
// NIB (the nib binary) and NIB_HOME (the data directory of the nib the extension runs).

import { readFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(join(process.env.TOOLS, 'package.json'));
const { chromium } = require('playwright-core');

const { URL, WORKSPACE, NIB_LOG, ARTIFACTS, NIB, NIB_HOME } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MODEL_WAIT_MS = Number(process.env.MODEL_WAIT_MS || 240000);
const GHOST_WAIT_MS = Number(process.env.GHOST_WAIT_MS || 60000);
const ACTION_WAIT_MS = Number(process.env.ACTION_WAIT_MS || 180000);
mkdirSync(ARTIFACTS, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[e2e]', ...a);

async function until(what, ms, fn, every = 250) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

const nibLog = () => {
  try {
    return readFileSync(NIB_LOG, 'utf8');
  } catch {
    return '';
  }
};

/** Run a command by its title through the command palette. */
async function command(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill('>' + title);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10000 }).catch(() => {});
}

async function openFile(page, name) {
  // From the Explorer: a double click opens the file pinned and focuses its editor.
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first().dblclick();
  await page.locator(`.tab.active:has-text("${name}")`).first().waitFor({ timeout: 10000 });
  await page.locator('.editor-instance .monaco-editor.focused').waitFor({ timeout: 10000 });
}

async function gotoLine(page, line) {
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(':' + line);
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10000 }).catch(() => {});
}

/** The totals of `nib stats --json` on the test's events database. */
function stats() {
  const out = execFileSync(NIB, ['stats', '--json'], { env: { ...process.env, NIB_HOME }, encoding: 'utf8' });
  return JSON.parse(out).total;
}

/** The reasons of the rejections nib logged, in order. */
const loggedRejections = () => [...nibLog().matchAll(/suggestion rejected.*reason="?(\w+)/g)].map((m) => m[1]);

const GHOST = '.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text';

/** Wait for ghost text (asking for it with Alt+\\ if typing brought none); its text. */
async function ghostText(page, what) {
  const ghost = page.locator(GHOST);
  const seen = await ghost.first().waitFor({ state: 'visible', timeout: GHOST_WAIT_MS }).then(() => true, () => false);
  if (!seen) {
    log(`no ghost text ${what}; asking for it explicitly (Alt+\\)`);
    await page.keyboard.press('Alt+Backslash');
    await ghost.first().waitFor({ state: 'visible', timeout: GHOST_WAIT_MS });
  }
  // The decorations' text in document order (Monaco splits a suggestion into several).
  return (await ghost.evaluateAll((els) => els.map((e) => e.textContent).join(''))).replace(/\u00a0/g, ' ');
}

/**
 * Wait until nib has recorded exactly one more rejection than `before` (stats and log), then a
 * while longer (beyond the server's 2 s grace for inferred verdicts) to see that no second one
 * and no acceptance follow.
 */
async function oneMoreRejection(before, reason) {
  const now = await until(`one more rejection in nib stats (was ${before.stats.rejected})`, 20000, async () => {
    const t = stats();
    return t.rejected > before.stats.rejected ? t : undefined;
  }, 500);
  await until(`"suggestion rejected reason=${reason}" in nib's log`, 10000, async () =>
    loggedRejections().length > before.log.length);
  await sleep(4000);
  const after = stats();
  const logged = loggedRejections().slice(before.log.length);
  log(`stats: rejected ${before.stats.rejected} -> ${after.rejected}, accepted ${before.stats.accepted} -> ${after.accepted}; logged ${JSON.stringify(logged)}`);
  if (after.rejected !== before.stats.rejected + 1) throw new Error(`${after.rejected - before.stats.rejected} rejections recorded, not 1`);
  if (after.accepted !== before.stats.accepted) throw new Error('an acceptance was recorded too');
  if (logged.length !== 1 || logged[0] !== reason) throw new Error(`logged rejections ${JSON.stringify(logged)}, not [${reason}]`);
  return now;
}

const snapshot = () => ({ stats: stats(), log: loggedRejections() });

async function statusText(page) {
  const items = page.locator('.statusbar-item');
  const texts = await items.allInnerTexts();
  return texts.map((t) => t.replace(/\s+/g, ' ').trim()).find((t) => t.startsWith('nib')) ?? '';
}

const results = [];
let nibRunning = true;
async function test(name, page, fn) {
  const t0 = Date.now();
  if (!nibRunning) {
    results.push([name, false]);
    log(`FAIL ${name}: not run, nib is not running`);
    return;
  }
  try {
    await fn();
    results.push([name, true]);
    log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push([name, false]);
    log(`FAIL ${name}: ${e.stack || e}`);
    const shot = join(ARTIFACTS, `fail-${name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: shot }).catch(() => {});
    log(`screenshot: ${shot}`);
  }
}

// A fresh profile directory (run.sh makes one per run).
const browser = await chromium.launchPersistentContext(process.env.BROWSER_PROFILE, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = browser.pages()[0] ?? (await browser.newPage());
page.setDefaultTimeout(15000);
await page.goto(URL);
await page.locator('.monaco-workbench').waitFor({ timeout: 120000 });
log('workbench loaded');

await test('status bar shows the loaded model', page, async () => {
  // The extension activates on the first Python file.
  await openFile(page, 'stats.py');
  const text = await until('the model in the status bar', MODEL_WAIT_MS, async () => {
    const t = await statusText(page);
    // `$(error) nib`: the extension could not start nib (its output channel says why).
    if (t === 'nib') throw new Error('the status bar shows an error: nib did not start');
    if (/no model|model failed/.test(t)) throw new Error(`nib has no model: ${t} (see nib.log)`);
    return /^nib: \S+/.test(t) && !/loading|indexing|no model/.test(t) ? t : undefined;
  }, 500);
  log(`status bar: ${text}`);
});
nibRunning = results.at(-1)[1];

await test('ghost text appears and Tab accepts it', page, async () => {
  const original = readFileSync(join(WORKSPACE, 'stats.py'), 'utf8');
  await openFile(page, 'stats.py');
  await page.keyboard.press('Control+End');
  const typed = '    return';
  await page.keyboard.type(typed, { delay: 60 });
  const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text');
  let seen = await ghost.first().waitFor({ state: 'visible', timeout: GHOST_WAIT_MS }).then(() => true, () => false);
  if (!seen) {
    log('no ghost text after typing; asking for it explicitly (Alt+\\)');
    await page.keyboard.press('Alt+Backslash');
    await ghost.first().waitFor({ state: 'visible', timeout: GHOST_WAIT_MS });
  }
  // The decorations' text in document order (Monaco splits a suggestion into several).
  const ghostText = (await ghost.evaluateAll((els) => els.map((e) => e.textContent).join(''))).replace(/\u00a0/g, ' ');
  log(`ghost text: ${JSON.stringify(ghostText)}`);
  await page.screenshot({ path: join(ARTIFACTS, 'ghost-text.png') });
  if (ghostText.trim() === '') throw new Error('the ghost text is empty');
  const status = await statusText(page);
  if (!/\d+ ms/.test(status)) throw new Error(`no latency in the status bar: ${status}`);
  log(`status bar: ${status}`);
  await page.keyboard.press('Tab');
  await ghost.first().waitFor({ state: 'hidden', timeout: 10000 });
  await command(page, 'File: Save All');
  let after = '';
  await until('stats.py saved with more than the typed text', 10000, async () => {
    after = readFileSync(join(WORKSPACE, 'stats.py'), 'utf8');
    return after.trim() !== (original + typed).trim() && after !== original;
  }).catch(() => {});
  log(`stats.py after Tab:\n${after}`);
  const added = after.slice(original.length);
  if (!after.startsWith(original) || !added.startsWith(typed)) throw new Error('the typed text is not where it was typed');
  if (added.trim() === typed.trim()) throw new Error('Tab inserted nothing');
  const squash = (t) => t.replace(/\s+/g, '');
  if (!squash(added.slice(typed.length)).startsWith(squash(ghostText))) {
    throw new Error(`the ghost text ${JSON.stringify(ghostText)} is not what was inserted: ${JSON.stringify(added)}`);
  }
  await until('"suggestion accepted" in nib\'s log', 15000, async () => nibLog().includes('suggestion accepted'));
});

await test('Escape dismisses ghost text and nib records one rejection', page, async () => {
  const original = readFileSync(join(WORKSPACE, 'scores.py'), 'utf8');
  await openFile(page, 'scores.py');
  await page.keyboard.press('Control+End');
  // One change: one automatic request, so no suggestion is typed over on the way.
  await page.keyboard.insertText('        result');
  const text = await ghostText(page, 'after typing');
  log(`ghost text: ${JSON.stringify(text)}`);
  const before = snapshot();
  await page.keyboard.press('Escape');
  await page.locator(GHOST).first().waitFor({ state: 'hidden', timeout: 10000 });
  await oneMoreRejection(before, 'dismissed');
  await command(page, 'File: Save All');
  const expected = original + '        result';
  await until('scores.py saved as typed', 10000, async () => readFileSync(join(WORKSPACE, 'scores.py'), 'utf8') === expected)
    .catch(() => {
      throw new Error(`Escape changed the text: ${JSON.stringify(readFileSync(join(WORKSPACE, 'scores.py'), 'utf8'))}`);
    });
});

await test('typing over ghost text makes nib record one rejection', page, async () => {
  // A new line, in one change again (asked for again where it was dismissed, the suggestion came
  // back from nib but VS Code did not show it).
  await page.keyboard.press('Control+End');
  await page.keyboard.insertText(' += s\n    return');
  const text = await ghostText(page, 'after typing');
  log(`ghost text: ${JSON.stringify(text)}`);
  const before = snapshot();
  // First its own first character (VS Code keeps showing the rest, nib answers again for the
  // new place), then a character no Python suggestion goes on with: one rejection, not two.
  const first = text.charAt(0);
  if (first !== '' && first !== '`' && first !== '\n') {
    await page.keyboard.type(first);
    const rest = await ghostText(page, `after typing ${JSON.stringify(first)}`);
    log(`ghost text after typing its first character: ${JSON.stringify(rest)}`);
  }
  await page.keyboard.type('`');
  await oneMoreRejection(before, 'typedOver');
});

await test('generate code from a comment: edit and explanation panel', page, async () => {
  const original = readFileSync(join(WORKSPACE, 'words.py'), 'utf8');
  await openFile(page, 'words.py');
  await gotoLine(page, 2);
  await page.keyboard.press('End');
  await command(page, 'nib: Generate code from comment');
  await page.locator('.tab:has-text("nib: Explanation")').waitFor({ timeout: ACTION_WAIT_MS });
  const frameText = await until('the explanation in the webview', 20000, async () => {
    for (const f of page.frames()) {
      const t = await f.locator('#nib-explanation').innerText({ timeout: 200 }).catch(() => undefined);
      if (t && t.trim()) return t.trim();
    }
    return undefined;
  });
  log(`explanation panel: ${JSON.stringify(frameText)}`);
  await page.screenshot({ path: join(ARTIFACTS, 'explanation-panel.png') });
  await command(page, 'File: Save All');
  const after = await until('words.py saved with the generated code', 10000, async () => {
    const t = readFileSync(join(WORKSPACE, 'words.py'), 'utf8');
    return t !== original ? t : undefined;
  });
  log(`words.py after the action:\n${after}`);
  const origLines = original.split('\n');
  const lines = after.split('\n');
  if (lines.slice(0, 2).join('\n') !== origLines.slice(0, 2).join('\n')) throw new Error('the function header or the comment changed');
  const print = lines.indexOf(origLines[4]);
  if (print < 0) throw new Error('the code after the function was changed');
  const inserted = lines.slice(2, print).join('\n');
  if (!/^ {4}\S/m.test(inserted)) throw new Error(`no indented code inserted under the comment: ${JSON.stringify(inserted)}`);
});

await test('explain: a panel, or the message that this nib has no such action', page, async () => {
  await openFile(page, 'stats.py');
  await gotoLine(page, 3);
  await command(page, 'nib: Explain');
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Explain' });
  const outcome = await until('an explanation or a notification', ACTION_WAIT_MS, async () => {
    const t = await toast.allInnerTexts();
    const msg = t.find((x) => /not available yet in this nib version|no Explain action/.test(x));
    if (msg) return `notification: ${msg.replace(/\s+/g, ' ')}`;
    for (const f of page.frames()) {
      const title = await f.locator('#nib-title').innerText({ timeout: 200 }).catch(() => '');
      if (/explain/i.test(title)) return `panel: ${title}`;
    }
    return undefined;
  }, 500);
  log(outcome);
  await page.screenshot({ path: join(ARTIFACTS, 'explain.png') });
});

await browser.close();
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
