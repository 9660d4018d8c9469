// lib.mjs — what Lumi's browser tests share (flow.mjs, journey.mjs): starting
// and stopping the fake upstreams (browser_fakes), the SMTP sink and `lumi
// serve`; page helpers (steps, screenshots, text and path assertions); and
// run(), which runs a test's main with cleanup, the failure screenshot and
// the exit status. Each test is its own Node process, so the harness state
// (H) is one object per process.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const LUMI_BIN = process.env.LUMI_BIN;
export const FAKES_BIN = process.env.LUMI_BROWSER_FAKES;
export const CHROMIUM = process.env.LUMI_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.LUMI_ARTIFACTS_DIR || path.join(process.cwd(), 'artifacts');
export const SECRET_KEY = '9f1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f';
export const STEP_TIMEOUT_MS = 15000;   // one page action or assertion
export const PROVISION_WAIT_MS = 45000; // payment → service active (worker + fake panel)

const t0 = Date.now();
let stepNo = 0;

/** The harness state of this test process. */
export const H = {
    shotsDir: null,   // ARTIFACTS/screenshots/<test>
    shots: [],
    problems: [],     // JavaScript errors and CSP violations seen in the pages
    tmpDir: null,
    fakes: null,
    smtp: null,
    server: null,
    browser: null,
    currentPage: null,
};

export function log(msg) {
    process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
}

export function fail(msg) {
    throw new Error(msg);
}

// ---- the fake upstreams (browser_fakes) -------------------------------------

export async function startFakes() {
    const child = spawn(FAKES_BIN, [], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
    const spawned = new Promise((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (e) => reject(new Error(`cannot start ${FAKES_BIN}: ${e.message}`)));
    });
    await spawned;
    child.stdin.on('error', () => {}); // it may have exited; its exit status says why
    const lines = readline.createInterface({ input: child.stdout });
    const waiting = [];
    const queued = [];
    lines.on('line', (line) => {
        const w = waiting.shift();
        if (w) w(line);
        else queued.push(line);
    });
    let exited = false;
    const exit = new Promise((resolve) => child.on('exit', (code, sig) => {
        exited = true;
        for (const w of waiting.splice(0)) w(null);
        resolve(sig ? 128 : code);
    }));
    const next = () => new Promise((resolve) => {
        if (queued.length) resolve(queued.shift());
        else if (exited) resolve(null);
        else waiting.push(resolve);
    });
    const vars = {};
    for (;;) {
        const line = await next();
        if (line === null) fail('browser_fakes exited before it was ready');
        if (line === 'READY') break;
        const eq = line.indexOf('=');
        if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return {
        vars,
        // One command, one answer line: "OK …" (the words after OK) or a thrown error.
        async command(cmd) {
            child.stdin.write(cmd + '\n');
            const answer = await next();
            if (answer === null) fail(`browser_fakes exited during "${cmd}"`);
            if (!answer.startsWith('OK')) fail(`browser_fakes: ${cmd.split(' ')[0]}: ${answer}`);
            return answer.slice(2).trim().split(' ').filter((w) => w !== '');
        },
        async stop() {
            if (!exited) child.stdin.end();
            const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
            const code = await exit;
            clearTimeout(timer);
            return code;
        },
        kill() {
            if (!exited) child.kill('SIGKILL');
        },
    };
}


// ---- the SMTP sink (tests/smtp_sink.py) ---------------------------------------

/**
 * Starts the real SMTP server of the mail tests on a free 127.0.0.1 port,
 * storing each message as DIR/NNNNNN.json (see smtp_sink.py). Answers
 * {port, dir, kill(), stop()}; stop() waits for it to exit.
 */
export async function startSmtp() {
    const dir = path.join(H.tmpDir, 'mail');
    fs.mkdirSync(dir, { recursive: true });
    const script = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'smtp_sink.py');
    const child = spawn('/usr/bin/python3', [script, '--dir', dir, '--port', '0'],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
    let exited = false;
    const exit = new Promise((resolve) => child.on('exit', (code, sig) => {
        exited = true;
        resolve(sig ? 128 : code);
    }));
    const lines = readline.createInterface({ input: child.stdout });
    const port = await new Promise((resolve, reject) => {
        lines.on('line', (line) => {
            const m = /^PORT (\d+)$/.exec(line);
            if (m) resolve(Number(m[1]));
        });
        child.on('exit', () => reject(new Error('smtp_sink.py exited before it was listening')));
    });
    return {
        port,
        dir,
        kill() {
            if (!exited) child.kill('SIGKILL');
        },
        async stop() {
            if (!exited) child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
            const code = await exit;
            clearTimeout(timer);
            return code;
        },
    };
}

/** The messages the sink holds, oldest first (the parsed .json of each). */
export function mails() {
    if (!H.smtp) return [];
    return fs.readdirSync(H.smtp.dir).filter((f) => f.endsWith('.json')).sort()
        .map((f) => JSON.parse(fs.readFileSync(path.join(H.smtp.dir, f), 'utf8')));
}

/** Waits for a message to `to` whose subject matches re; answers it. */
export async function waitForMail(to, re, timeout = 30000) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const m = mails().find((x) => x.rcpt_tos.includes(to) && re.test(x.subject));
        if (m) return m;
        if (Date.now() > deadline) {
            const seen = mails().map((x) => `${x.rcpt_tos.join(',')}: ${x.subject}`).join('\n  ');
            fail(`no mail to ${to} matching ${re} within ${timeout / 1000} s; the sink holds:\n  ${seen || '(nothing)'}`);
        }
        await sleep(200);
    }
}

// ---- lumi ------------------------------------------------------------------

export function lumiEnv(extra) {
    const env = { PATH: process.env.PATH || '/usr/bin:/bin', HOME: H.tmpDir };
    for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
        if (process.env[k] !== undefined) env[k] = process.env[k];
    }
    return { ...env, ...extra };
}

export function lumiRun(args, env, input) {
    const r = spawnSync(LUMI_BIN, args, {
        cwd: H.tmpDir, env, input: input ?? '', encoding: 'utf8', timeout: 60000,
    });
    if (r.error) fail(`lumi ${args.join(' ')}: ${r.error.message}`);
    if (r.status !== 0) {
        fail(`lumi ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || '').trim()}`);
    }
    return r.stdout;
}

export function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Starts `lumi serve` on a free port and waits for GET /healthz → 200. A port
// taken between choosing and binding is retried with another one.
export async function startServer(baseEnv) {
    for (let attempt = 1; attempt <= 5; attempt++) {
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        const logPath = path.join(H.tmpDir, `serve-${attempt}.log`);
        const logFd = fs.openSync(logPath, 'w');
        const env = lumiEnv({ ...baseEnv, LUMI_BASE_URL: base });
        const child = spawn(LUMI_BIN, ['serve', '--listen', `127.0.0.1:${port}`], {
            cwd: H.tmpDir, env, stdio: ['ignore', logFd, logFd],
        });
        fs.closeSync(logFd);
        let exitCode = null;
        const exit = new Promise((resolve) => child.on('exit', (code, sig) => {
            exitCode = sig ? 128 + (os.constants.signals[sig] || 0) : code;
            resolve(exitCode);
        }));
        const srv = { child, port, base, logPath, exit, get exitCode() { return exitCode; } };
        const deadline = Date.now() + 20000;
        while (Date.now() < deadline && exitCode === null) {
            try {
                const r = await fetch(`${base}/healthz`);
                if (r.status === 200) return srv;
            } catch { /* not listening yet */ }
            await sleep(100);
        }
        const text = fs.readFileSync(logPath, 'utf8');
        if (exitCode !== null && /in use/i.test(text)) continue;
        child.kill('SIGKILL');
        await exit;
        fail(`lumi serve did not become healthy (exit ${exitCode}); log:\n${text.slice(-3000)}`);
    }
    fail('lumi serve: no free port after 5 attempts');
}

export async function stopServer(srv) {
    if (srv.exitCode === null) srv.child.kill('SIGTERM');
    const timer = setTimeout(() => srv.child.kill('SIGKILL'), 20000);
    const code = await srv.exit;
    clearTimeout(timer);
    return code;
}

export function serverLogTail() {
    try {
        return fs.readFileSync(H.server.logPath, 'utf8').slice(-4000);
    } catch {
        return '(no log)';
    }
}

// ---- page helpers -----------------------------------------------------------

export async function shot(page, name) {
    const n = String(H.shots.length + 1).padStart(2, '0');
    const file = path.join(H.shotsDir, `${n}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    H.shots.push(file);
}

export async function step(name, fn) {
    stepNo++;
    const started = Date.now();
    try {
        await fn();
    } catch (e) {
        log(`FAIL ${stepNo}. ${name}`);
        throw e;
    }
    log(`ok   ${stepNo}. ${name} (${Date.now() - started} ms)`);
}

// Waits until the page body contains text (string or RegExp); fails with what it shows.
export async function expectText(page, text, where = 'body', timeout = STEP_TIMEOUT_MS) {
    const loc = page.locator(where).first();
    const deadline = Date.now() + timeout;
    let seen = '';
    while (Date.now() < deadline) {
        seen = (await loc.innerText().catch(() => '')) || '';
        if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) return seen;
        await sleep(100);
    }
    fail(`expected ${where} of ${page.url()} to show ${text}; it shows:\n${seen.slice(0, 1500)}`);
}

export async function expectNoText(page, text, where = 'body') {
    const seen = (await page.locator(where).first().innerText()) || '';
    if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) {
        fail(`did not expect ${where} of ${page.url()} to show ${text}:\n${seen.slice(0, 1500)}`);
    }
}

// The path of the current page (with its query), for assertions on where a click led.
export function pathOf(page) {
    const u = new URL(page.url());
    return u.pathname + u.search;
}

export async function expectPath(page, re) {
    await page.waitForURL((u) => re.test(u.pathname + u.search), { timeout: STEP_TIMEOUT_MS })
        .catch(() => fail(`expected to be on ${re}, the browser is on ${pathOf(page)}`));
}

// An OK flash after a Post/Redirect/Get, or the error the page shows instead.
export async function expectFlashOk(page) {
    const flash = page.locator('.flash').first();
    await flash.waitFor({ timeout: STEP_TIMEOUT_MS }).catch(() => {});
    const cls = (await flash.getAttribute('class').catch(() => '')) || '';
    const text = (await flash.innerText().catch(() => '')) || '';
    if (!/flash-ok/.test(cls)) {
        const body = (await page.locator('body').innerText().catch(() => '')) || '';
        fail(`expected a success message on ${pathOf(page)}, got "${text}" (${cls}):\n${body.slice(0, 1500)}`);
    }
    return text;
}

// The number in /prefix/{id} of the current URL.
export function idFromUrl(page, prefix) {
    const m = new RegExp(`${prefix}/(\\d+)`).exec(new URL(page.url()).pathname);
    if (!m) fail(`expected a URL under ${prefix}/{id}, the browser is on ${pathOf(page)}`);
    return Number(m[1]);
}

// Records script errors and CSP refusals of every page of the context; accepts confirm dialogs.
export function watchPages(context) {
    context.on('page', (p) => {
        p.on('pageerror', (e) => H.problems.push(`JavaScript error on ${p.url()}: ${e.message}`));
        p.on('console', (m) => {
            // A 4xx answer (the favicon, a refused login) is logged as "Failed to load
            // resource"; that is the page working. Script errors and CSP refusals are not.
            if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
                H.problems.push(`console error on ${p.url()}: ${m.text()}`);
            }
        });
        p.on('dialog', (d) => d.accept());
    });
}

export async function cleanup() {
    let ok = true;
    if (H.browser) {
        await H.browser.close().catch(() => {});
        H.browser = null;
    }
    if (H.server) {
        const code = await stopServer(H.server);
        if (code !== 0) {
            log(`lumi serve exited ${code} when stopped; log:\n${serverLogTail()}`);
            ok = false;
        }
        H.server = null;
    }
    if (H.fakes) {
        const code = await H.fakes.stop();
        if (code !== 0) {
            log(`browser_fakes exited ${code}`);
            ok = false;
        }
        H.fakes = null;
    }
    if (H.smtp) {
        const code = await H.smtp.stop();
        if (code !== 0) {
            log(`smtp_sink.py exited ${code}`);
            ok = false;
        }
        H.smtp = null;
    }
    return ok;
}


/**
 * Runs main() (which starts what it needs into H) with everything started
 * stopped afterwards, on failure too; prints the screenshots and exits 0 on
 * pass, 1 on failure. name names the screenshot folder.
 */
export async function run(name, main) {
    if (!LUMI_BIN || !FAKES_BIN) fail('LUMI_BIN and LUMI_BROWSER_FAKES must be set (run through ctest)');
    H.shotsDir = path.join(ARTIFACTS, 'screenshots', name);
    fs.mkdirSync(H.shotsDir, { recursive: true });
    for (const f of fs.readdirSync(H.shotsDir)) {
        if (f.endsWith('.png')) fs.rmSync(path.join(H.shotsDir, f));
    }
    H.tmpDir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), `lumi-${name}-`));
    let failed = false;
    for (const sig of ['SIGTERM', 'SIGINT']) {
        process.on(sig, () => {
            log(`${sig}: stopping`);
            if (H.server && H.server.exitCode === null) H.server.child.kill('SIGKILL');
            if (H.fakes) H.fakes.kill();
            if (H.smtp) H.smtp.kill();
            process.exit(1);
        });
    }
    try {
        await main();
    } catch (e) {
        failed = true;
        log(`FAILED: ${e && e.stack ? e.stack : e}`);
        if (H.currentPage) {
            const file = path.join(H.shotsDir, 'failure.png');
            const done = await H.currentPage.screenshot({ path: file, fullPage: true }).then(() => true, () => false);
            if (done) H.shots.push(file);
            log(`the browser was on ${H.currentPage.url()}`);
        }
        if (H.problems.length) log(`the pages reported:\n  ${H.problems.join('\n  ')}`);
        if (H.server) log(`lumi serve log (end):\n${serverLogTail()}`);
    }
    if (!(await cleanup())) failed = true;
    if (H.tmpDir && !process.env.LUMI_TEST_KEEP_DIRS) fs.rmSync(H.tmpDir, { recursive: true, force: true });
    else if (H.tmpDir) log(`kept ${H.tmpDir}`);
    log(`screenshots (${H.shots.length}):`);
    for (const f of H.shots) log(`  ${f}`);
    log(failed ? 'browser test FAILED' : `browser test passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    process.exit(failed ? 1 : 0);
}
