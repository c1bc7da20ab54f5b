// helpers.mjs -- shared by the end-to-end tests: start a portlab of our own
// on free loopback ports, launch Debian's chromium through playwright-core,
// and drive the terminal (type a line, wait for the conversation to show
// something, read it back).
//
// Env: PORTLAB_BIN (default build/portlab of this checkout), CHROMIUM
// (default /usr/bin/chromium). Screenshots go to tests/artifacts/.
// Never `npx playwright install`: the browser is Debian's.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = joinPath(HERE, '..', 'artifacts');
export const BIN = process.env.PORTLAB_BIN || joinPath(HERE, '..', '..', 'build', 'portlab');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const TEACHER_PASSWORD = 'e2e-teacher';
// The longest wait for one thing to show up: a hang guard, not a speed goal.
// A 2-core machine busy with other builds can take many seconds for one step.
export const STEP_MS = 30000;
const LAB_PORTS = [21, 22, 23, 25, 43, 53, 79, 80, 110, 143];

// Port blocks, the same as tests/integration/harness.py's (read its notes):
// each portlab gets BLOCK_SIZE ports below the kernel's ephemeral range,
// lab servers at first+21..first+143, passive ports from first+150, the
// portal at first+170. A block is held across processes and languages by
// listening on the abstract Unix socket "portlab-test-ports-FIRST" (Node
// pads the name to 108 bytes; harness.py does the same), which the kernel
// frees when the holder exits. If another program takes a port in the
// moment before portlab binds it, portlab exits with status 3 and we start
// again on another block.
const BLOCK_FIRST = 10000;
const BLOCK_SIZE = 200;
const BLOCK_PASV = 150;
const BLOCK_PORTAL = 170;
const PASV_COUNT = 8;
const EXIT_ADDR_IN_USE = 3;
const START_ATTEMPTS = 8;

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function ephemeralLow() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch (e) {
    return 32768;
  }
}

function holdName(name) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(name, () => {
      s.unref();
      resolve(s);
    });
  });
}

// Reserves a block: {first, labBase, portal, pasv: [lo, hi], release()}.
async function reserveBlock() {
  const top = Math.min(ephemeralLow(), 65536);
  const firsts = [];
  for (let f = BLOCK_FIRST; f + BLOCK_SIZE <= top; f += BLOCK_SIZE) firsts.push(f);
  const start = Math.floor(Math.random() * firsts.length);
  for (let i = 0; i < firsts.length; i++) {
    const first = firsts[(start + i) % firsts.length];
    const lock = await holdName('\0portlab-test-ports-' + first);
    if (!lock) continue;
    const ports = LAB_PORTS.map((p) => first + p);
    for (let k = 0; k < PASV_COUNT; k++) ports.push(first + BLOCK_PASV + k);
    ports.push(first + BLOCK_PORTAL);
    let ok = true;
    for (const p of ports) if (!(await portFree(p))) ok = false;
    if (!ok) {
      lock.close();
      continue;
    }
    return {
      first,
      labBase: first,
      portal: first + BLOCK_PORTAL,
      pasv: [first + BLOCK_PASV, first + BLOCK_PASV + PASV_COUNT - 1],
      release: () => lock.close(),
    };
  }
  throw new Error('no free port block');
}

// Starts portlab and chromium. Returns {base, labBase, browser, log(),
// stop()}; stop() is safe to call twice.
// args: more flags for portlab (e.g. a small --ws-per-addr).
export async function startLab(args = []) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const tmp = mkdtempSync(joinPath(tmpdir(), 'portlab-e2e-'));
  let serverLog = '';
  let server = null;
  let block = null;
  const lab = { base: null, labBase: null, browser: null, log: () => serverLog };

  lab.stop = async () => {
    if (lab.browser) await lab.browser.close().catch(() => {});
    lab.browser = null;
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => {
        const timer = setTimeout(() => {
          server.kill('SIGKILL');
          r();
        }, 3000);
        server.once('exit', () => {
          clearTimeout(timer);
          r();
        });
      });
    }
    if (block) block.release();
    block = null;
    rmSync(tmp, { recursive: true, force: true });
  };

  try {
    for (let attempt = 1; ; attempt++) {
      if (block) block.release();
      block = await reserveBlock();
      serverLog = '';
      server = spawn(
        BIN,
        [
          '--db', joinPath(tmp, 'e2e.db'),
          '--listen', '127.0.0.1:' + block.portal,
          '--lab-port-base', String(block.labBase),
          '--ftp-pasv-ports', block.pasv[0] + '-' + block.pasv[1],
          // The TLS ports (base + 443 ... 995) lie outside the block.
          '--lab-tls-ports', 'off',
          ...args,
        ],
        { env: { ...process.env, PORTLAB_TEACHER_PASSWORD: TEACHER_PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const keep = (d) => {
        serverLog = (serverLog + d.toString()).slice(-20000);
      };
      server.stdout.on('data', keep);
      server.stderr.on('data', keep);
      lab.base = 'http://127.0.0.1:' + block.portal + '/';
      lab.labBase = block.labBase;
      try {
        await waitHealthy(lab.base, block.portal, server, () => serverLog);
        break;
      } catch (e) {
        if (server.exitCode !== EXIT_ADDR_IN_USE || attempt >= START_ATTEMPTS) throw e;
      }
    }
    lab.browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 4 * STEP_MS,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  } catch (e) {
    await lab.stop();
    throw e;
  }
  return lab;
}

// True if process pid holds a listening TCP socket on port (Linux /proc).
// Until it does, whatever answers there is another program that took the
// port between the block check and portlab's bind.
function listensOn(pid, port) {
  const inodes = new Set();
  try {
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':').pop(), 16) === port)
          inodes.add(`socket:[${f[9]}]`);
      }
    }
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
      } catch (e) {
        // closed meanwhile
      }
    }
  } catch (e) {
    // the process is gone
  }
  return false;
}

async function waitHealthy(url, port, server, log) {
  const deadline = Date.now() + 60000; // a live, slow start is waited for (harness.py START_TIMEOUT)
  while (Date.now() < deadline) {
    try {
      if (listensOn(server.pid, port)) {
        const r = await fetch(url + 'api/health');
        if (r.ok) return;
      }
    } catch (e) {
      // not up yet
    }
    if (server.exitCode !== null) throw new Error('portlab exited:\n' + log());
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('portlab did not start:\n' + log());
}

// A page that records script errors and console errors in page.errors.
export async function newPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    // Before anyone has joined, the page asks GET /api/me and gets the 401
    // it expects; chromium logs every 4xx fetch as an error anyway.
    if (m.type() !== 'error') return;
    if (/status of 401/.test(m.text()) && /\/api\/me$/.test(m.location().url || '')) return;
    page.errors.push('console: ' + m.text() + ' (' + (m.location().url || '') + ')');
  });
  page.setDefaultTimeout(STEP_MS);
  return page;
}

// Joins as a new student; returns the lab login shown in the header.
export async function join(page, base, name) {
  await page.goto(base);
  await page.fill('#join-name', name);
  await page.click('#join-submit');
  await page.waitForSelector('#rejoin:not([hidden])');
  await page.click('#rejoin-dismiss');
  await page.waitForSelector('.lesson-card');
  return {
    user: (await page.textContent('#lab-user')).trim(),
    password: (await page.textContent('#lab-password')).trim(),
  };
}

// Signs page in as the teacher from the join page.
export async function signInTeacher(page, base) {
  await page.goto(base);
  await page.locator('#teacher-box summary').click();
  await page.fill('#teacher-password', TEACHER_PASSWORD);
  await page.click('#teacher-submit');
}

// The visible terminal's pieces.
export const active = (page, sel) => page.locator('.tabpanel:not([hidden]) ' + sel);

export async function typeLine(page, text) {
  const input = active(page, '.line-input');
  await input.fill(text);
  await input.press('Enter');
}

// Waits until the visible conversation shows text (server replies arrive
// asynchronously); text may be a string or a RegExp.
export async function expectConv(page, text, timeout = STEP_MS) {
  const spec = text instanceof RegExp ? { re: text.source, flags: text.flags } : { s: text };
  try {
    await page.waitForFunction(
      (sp) => {
        const log = document.querySelector('.tabpanel:not([hidden]) .conv');
        if (!log) return false;
        return sp.re ? new RegExp(sp.re, sp.flags).test(log.textContent) : log.textContent.includes(sp.s);
      },
      spec,
      { timeout },
    );
  } catch (e) {
    const seen = await convText(page).catch(() => '(no conversation)');
    throw new Error('the conversation never showed ' + String(text) + '; it shows:\n' + seen.slice(-1500));
  }
}

// The visible conversation's text, one line per line.
// (Each line's textContent: innerText skips lines scrolled out of view.)
export async function convText(page) {
  return page.evaluate(() => {
    const log = document.querySelector('.tabpanel:not([hidden]) .conv');
    return log ? Array.from(log.children, (el) => el.textContent).join('\n') : '';
  });
}

// The number of times text appears in the visible conversation.
export async function convCount(page, text) {
  const all = await page.evaluate(() => {
    const log = document.querySelector('.tabpanel:not([hidden]) .conv');
    return log ? log.textContent : '';
  });
  return all.split(text).length - 1;
}

export const shot = (page, name, opts = {}) =>
  page.screenshot({ path: joinPath(ARTIFACTS, name + '.png'), ...opts });

// Answers a question or flag task through its widget and waits until it is
// solved.
export async function answerTask(page, id, answer) {
  const card = page.locator(`.task-card[data-task="${id}"]`);
  await card.scrollIntoViewIfNeeded();
  await card.locator('input').fill(answer);
  await card.locator('button[type="submit"]').click();
  await solved(page, id);
}

// Presses "Check my work" on a check task and waits until it is solved.
export async function checkTask(page, id) {
  const card = page.locator(`.task-card[data-task="${id}"]`);
  await card.scrollIntoViewIfNeeded();
  await card.locator('button[type="submit"]').click();
  await solved(page, id);
}

async function solved(page, id) {
  try {
    await page.waitForSelector(`.task-card[data-task="${id}"][data-solved="true"]`, { timeout: STEP_MS });
  } catch (e) {
    const msg = await page.locator(`.task-card[data-task="${id}"] .task-msg`).textContent().catch(() => '');
    throw new Error(`task ${id} was not solved: "${msg}"`);
  }
}
