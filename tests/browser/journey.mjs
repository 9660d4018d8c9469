// journey.mjs — the customer's whole self-serve journey (issue 13) in headless
// Chromium, as a visitor does it, with no admin in the loop once the catalogue
// exists:
//
//   /store → a product → order → sign up → the verification mail reaches the
//   SMTP sink → confirm → log in → order → invoice → pay with the fake Stripe
//   → the service becomes active on the fake Pterodactyl → reset the panel
//   password (shown once, and it is the password the panel now has) →
//   request cancellation at the end of the period → log out → "forgot
//   password" → the reset mail → a new password → the old one fails, the new
//   one logs in.
//
// The catalogue (a Pterodactyl server on the fake panel and one visible
// product with two prices) is set up through the admin API with a token from
// `lumi token create`: the admin pages have their own browser test (flow.mjs).
// Mail goes through a real SMTP server (tests/smtp_sink.py). Screenshots of
// each page go to $LUMI_ARTIFACTS_DIR/screenshots/journey.

import { chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import {
    CHROMIUM, H, PROVISION_WAIT_MS, SECRET_KEY, STEP_TIMEOUT_MS, expectNoText, expectPath,
    expectText, fail, idFromUrl, log, lumiEnv, lumiRun, run, shot, sleep, startFakes,
    startServer, startSmtp, step, waitForMail, watchPages,
} from './lib.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'journey-admin-pass-123';
const EMAIL = 'grace@example.com';
const PASSWORD = 'journey-first-pass-123';
const NEW_PASSWORD = 'journey-second-pass-456';
const PRODUCT = 'Paper 2G';
const GROUP = 'Minecraft servers';

// The admin API, with the installation token.
async function api(base, token, method, route, body) {
    const r = await fetch(`${base}${route}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status >= 300) fail(`${method} ${route} answered ${r.status}: ${text}`);
    return text ? JSON.parse(text) : null;
}

// The first http(s) link in a mail's text part that contains needle.
function linkIn(mail, needle) {
    const m = (mail.text || '').match(/https?:\/\/\S+/g) || [];
    const link = m.find((u) => u.includes(needle));
    if (!link) fail(`the mail "${mail.subject}" has no link with ${needle}:\n${mail.text}`);
    return link;
}

async function catalogue(base, token) {
    const S = H.fakes.vars;
    const server = await api(base, token, 'POST', '/api/admin/servers', {
        name: 'Game panel', type: 'pterodactyl', url: S.PTERO_URL, api_key: S.PTERO_API_KEY,
    });
    const product = await api(base, token, 'POST', '/api/admin/products', {
        name: PRODUCT, type: 'game_server', server_id: server.id, autosetup: 'payment',
        group: GROUP, visible: true,
        description: 'A Paper server with 2 GiB of memory.',
        prices: [
            { billing_cycle: 'monthly', currency: 'usd', amount: 1500, setup_fee: 500 },
            { billing_cycle: 'annually', currency: 'usd', amount: 15000, setup_fee: 0 },
        ],
        config: { nest_id: 1, egg_id: 1, node_id: 1, memory: 2048, disk: 4096 },
    });
    return product.id;
}

async function journey(browserCtx, base, productId) {
    const S = H.fakes.vars;
    const page = await browserCtx.newPage();
    H.currentPage = page;
    let invoiceId = 0;
    let serviceId = 0;

    await step('a visitor opens /store and sees the group, the product and its starting price', async () => {
        await page.goto(`${base}/store`);
        await expectText(page, GROUP);
        await expectText(page, PRODUCT);
        await expectText(page, /from 12\.50 USD \/ month/); // 150.00 a year
        await shot(page, 'store');
    });

    await step('the product page shows each cycle with its price and setup fee', async () => {
        await page.getByRole('link', { name: PRODUCT }).first().click();
        await expectPath(page, new RegExp(`^/store/products/${productId}`));
        await expectText(page, /Monthly/i);
        await expectText(page, /Annually/i);
        await expectText(page, /150\.00/);
        await expectText(page, /5\.00/); // the monthly setup fee
        await shot(page, 'store-product');
    });

    await step('ordering without an account leads to sign-up', async () => {
        await page.getByRole('link', { name: /sign up|create an account/i }).first().click();
        await expectPath(page, /^\/client\/signup/);
        await page.getByLabel(/^E-mail/).fill(EMAIL);
        await page.getByLabel(/^Password/).first().fill(PASSWORD);
        await page.getByLabel(/^First name/).fill('Grace');
        await page.getByLabel(/^Last name/).fill('Hopper');
        const country = page.getByLabel(/^Country/);
        if ((await country.evaluate((e) => e.tagName)) === 'SELECT') await country.selectOption('US');
        else await country.fill('US');
        await shot(page, 'signup');
        await page.getByRole('button', { name: /sign up|create account/i }).click();
        await expectText(page, /check your (e-mail|inbox)/i);
        await shot(page, 'signup-sent');
    });

    await step('the verification mail arrives; its link confirms the address', async () => {
        const mail = await waitForMail(EMAIL, /confirm|verify/i);
        const link = linkIn(mail, '/client/verify');
        await page.goto(link);
        await shot(page, 'verify');
        await page.getByRole('button', { name: /confirm/i }).click();
        await expectText(page, /confirmed/i);
    });

    await step('log in with the new account', async () => {
        await page.goto(`${base}/client/login`);
        await page.getByLabel('E-mail address').fill(EMAIL);
        await page.getByLabel('Password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Log in' }).click();
        await expectPath(page, /^\/client(\/?$|\?)/);
        await expectText(page, /Grace/);
    });

    await step('order the product (monthly): the invoice with its Pay buttons', async () => {
        await page.goto(`${base}/store/products/${productId}`);
        await page.getByLabel(/Monthly/i).first().check();
        await page.getByRole('button', { name: /order/i }).click();
        await expectPath(page, /^\/client\/invoices\/\d+/);
        invoiceId = idFromUrl(page, '/client/invoices');
        await expectText(page, /unpaid/i, '.head-row .badge');
        await expectText(page, '20.00', 'table.items .amount-due'); // 15.00 + 5.00 setup
        await page.getByRole('button', { name: 'Pay with Stripe' }).waitFor();
        await shot(page, 'order-invoice');
    });

    await step('pay with the fake Stripe; the invoice shows paid', async () => {
        await page.getByRole('button', { name: 'Pay with Stripe' }).click();
        const deadline = Date.now() + STEP_TIMEOUT_MS;
        while (!page.url().startsWith(`${S.STRIPE_API_BASE}/pay/`)) {
            if (Date.now() > deadline) fail(`expected the Stripe checkout, the browser is on ${page.url()}`);
            await sleep(100);
        }
        const sessionId = page.url().split('/pay/')[1];
        await shot(page, 'stripe-checkout');
        const [status] = await H.fakes.command(`pay ${sessionId} ${base}/api/stripe/webhook`);
        if (status !== '200') fail(`POST /api/stripe/webhook answered ${status}`);
        const answer = await H.fakes.command(`session ${sessionId}`);
        await page.goto(answer[4].replace('{CHECKOUT_SESSION_ID}', sessionId));
        await expectText(page, /^paid$/i, '.head-row .badge');
        await shot(page, 'invoice-paid');
    });

    await step('the service page shows it becoming active (provisioning → active)', async () => {
        await page.goto(`${base}/client/services`);
        await page.getByRole('link', { name: new RegExp(PRODUCT) }).first().click();
        await expectPath(page, /^\/client\/services\/\d+/);
        serviceId = idFromUrl(page, '/client/services');
        const deadline = Date.now() + PROVISION_WAIT_MS;
        let status = '';
        for (;;) {
            status = (await page.locator('dl.detail .badge').first().innerText()).trim().toLowerCase();
            if (status === 'active' || Date.now() > deadline) break;
            await sleep(500);
            await page.reload();
        }
        if (status !== 'active') fail(`service ${serviceId} is still "${status}"`);
        await shot(page, 'service-active');
    });

    await step('reset the panel password: shown once, and it is the panel\'s', async () => {
        await page.getByRole('button', { name: /reset panel password/i }).click();
        await expectText(page, /reset|being/i, '.flash');
        const deadline = Date.now() + PROVISION_WAIT_MS;
        let shown = '';
        for (;;) {
            const el = page.locator('.revealed-password');
            if (await el.count()) {
                shown = (await el.first().innerText()).trim();
                break;
            }
            if (Date.now() > deadline) fail('the new panel password was never shown');
            await sleep(500);
            await page.reload();
        }
        await shot(page, 'panel-password');
        const [onPanel] = await H.fakes.command(`ptero_password ${EMAIL}`);
        if (shown !== onPanel) fail(`the page showed "${shown}", the panel has "${onPanel}"`);
        await page.reload();
        if (await page.locator('.revealed-password').count()) fail('the password was shown a second time');
        await expectNoText(page, shown);
    });

    await step('request cancellation at the end of the period', async () => {
        await page.getByRole('link', { name: /cancel/i }).first().click();
        await expectPath(page, new RegExp(`^/client/services/${serviceId}/cancel`));
        await page.getByLabel(/end of the (billing )?period/i).check();
        await page.getByLabel(/reason/i).fill('Moving to a bigger plan later.');
        await page.getByRole('button', { name: /request cancellation/i }).click();
        await expectText(page, /cancellation (is )?(requested|pending)/i);
        await shot(page, 'cancel-requested');
        // The service's own page says so too, with the day it ends.
        await page.goto(`${base}/client/services/${serviceId}`);
        await expectText(page, /Cancellation requested: the service ends on \d{4}-\d{2}-\d{2}/, '.cancellation-pending');
        await shot(page, 'service-cancelling');
    });

    await step('log out; the reset mail\'s link sets a new password', async () => {
        await page.goto(`${base}/client`);
        await page.getByRole('button', { name: /log out/i }).click();
        await expectPath(page, /^\/client\/login/);
        await page.getByRole('link', { name: /forgot/i }).click();
        await expectPath(page, /^\/client\/password-reset/);
        await page.getByLabel(/e-mail/i).fill(EMAIL);
        await page.getByRole('button', { name: /reset|send/i }).click();
        await expectText(page, /check your (e-mail|inbox)|if an account/i);
        await shot(page, 'reset-requested');
        const mail = await waitForMail(EMAIL, /password/i);
        await page.goto(linkIn(mail, '/client/password-reset/confirm'));
        await page.getByLabel(/new password/i).first().fill(NEW_PASSWORD);
        const again = page.getByLabel(/repeat|confirm/i);
        if (await again.count()) await again.first().fill(NEW_PASSWORD);
        await shot(page, 'reset-form');
        await page.getByRole('button', { name: /set|save|change/i }).click();
        await expectText(page, /password (has been )?(changed|set|reset)/i);
    });

    await step('the old password fails, the new one logs in', async () => {
        await page.goto(`${base}/client/login`);
        await page.getByLabel('E-mail address').fill(EMAIL);
        await page.getByLabel('Password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Log in' }).click();
        await expectText(page, /invalid|incorrect|wrong/i);
        await page.getByLabel('E-mail address').fill(EMAIL);
        await page.getByLabel('Password').fill(NEW_PASSWORD);
        await page.getByRole('button', { name: 'Log in' }).click();
        await expectPath(page, /^\/client(\/?$|\?)/);
        await shot(page, 'home-after-reset');
    });
}

async function main() {
    H.fakes = await startFakes();
    H.smtp = await startSmtp();
    const S = H.fakes.vars;
    const env = {
        DATABASE_URL: `sqlite:${path.join(H.tmpDir, 'lumi.db')}`,
        LUMI_SECRET_KEY: SECRET_KEY,
        STRIPE_SECRET_KEY: S.STRIPE_SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY: 'pk_test_journey',
        STRIPE_WEBHOOK_SECRET: S.STRIPE_WEBHOOK_SECRET,
        STRIPE_API_BASE: S.STRIPE_API_BASE,
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(H.smtp.port),
        SMTP_TLS: 'none',
        SMTP_FROM: 'Lumi Hosting <billing@example.com>',
    };
    lumiRun(['migrate'], lumiEnv(env));
    lumiRun(['admin', 'create', ADMIN_EMAIL], lumiEnv(env), `${ADMIN_PASSWORD}\n`);
    const token = lumiRun(['token', 'create', 'journey'], lumiEnv(env)).trim().split(/\s+/).pop();
    H.server = await startServer(env);
    log(`lumi serve on ${H.server.base}; SMTP sink on ${H.smtp.port}`);
    const productId = await catalogue(H.server.base, token);

    H.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const ctx = await H.browser.newContext({ viewport: { width: 1280, height: 900 } });
    ctx.setDefaultTimeout(STEP_TIMEOUT_MS);
    watchPages(ctx);
    await journey(ctx, H.server.base, productId);
    await step('the metrics after the journey pass promtool and counted it', () =>
        checkMetrics(H.server.base));
    if (H.problems.length) fail(`the pages reported problems:\n  ${H.problems.join('\n  ')}`);
}

/* Sum of the samples of one metric whose labels contain every given text. */
function metricSum(text, name, ...labels) {
    let sum = 0;
    for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (!labels.every((l) => line.includes(l))) continue;
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
}

/* issue 16: a scrape taken after the browser journey is valid Prometheus text
 * (promtool check metrics, Debian's prometheus package) and counted what the
 * journey did: pages, the Stripe webhook, the panel's create, the mails. */
async function checkMetrics(base) {
    const res = await fetch(`${base}/metrics`);
    if (res.status !== 200) fail(`GET /metrics answered ${res.status}`);
    const text = await res.text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error) fail(`promtool is not installed (scripts/setup.sh --test installs prometheus): ${check.error.message}`);
    if (check.status !== 0) fail(`promtool check metrics refused the scrape:\n${check.stdout}${check.stderr}`);
    const want = [
        ['lumi_http_requests_total', 'route="/store"'],
        ['lumi_webhook_deliveries_total', 'gateway="stripe"'],
        ['lumi_panel_calls_total'],
        ['lumi_mail_deliveries_total'],
    ];
    for (const [name, ...labels] of want)
        if (!(metricSum(text, name, ...labels) > 0)) fail(`${name} ${labels.join(' ')} did not count the journey`);
    log(`metrics: promtool ok; /store requests ${metricSum(text, 'lumi_http_requests_total', 'route="/store"')}, stripe deliveries ${metricSum(text, 'lumi_webhook_deliveries_total', 'gateway="stripe"')}, panel calls ${metricSum(text, 'lumi_panel_calls_total')}, mails ${metricSum(text, 'lumi_mail_deliveries_total')}`);
}

await run('journey', main);
