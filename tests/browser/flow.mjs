// flow.mjs — Lumi's browser test: the whole admin + client journey of issue 6
// in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
//
// It starts the fake upstreams (browser_fakes: fake Pterodactyl + fake Stripe
// on 127.0.0.1), migrates a fresh SQLite database in a temporary directory,
// creates an admin with `lumi admin create`, starts `lumi serve` on a free
// 127.0.0.1 port, and then, as a user would, in the browser: logs in, adds a
// Pterodactyl server pointing at the fake panel, tests the connection, creates
// a product, a client and a service (order), logs in as the client, opens the
// invoice, clicks "Pay with Stripe", lands on the fake Stripe checkout, pays
// (the fake completes the session and delivers the signed webhook), sees the
// invoice paid, sees the service become active (provisioned on the fake
// panel by the worker) and finds PAYMENT_RECEIVED and SERVICE_PROVISIONED on
// /admin/audit-logs. Each main page is saved as a screenshot in
// $LUMI_ARTIFACTS_DIR/screenshots (listed at the end of the output).
//
// Everything started here is stopped here, on failure too. Exit 0 on pass,
// 1 on failure (run.sh turns missing prerequisites into 77 before this runs).
// Elements are found by label, role and name, as a user finds them.

import { chromium } from 'playwright-core';
import path from 'node:path';

import {
    CHROMIUM, H, PROVISION_WAIT_MS, SECRET_KEY, STEP_TIMEOUT_MS, expectFlashOk, expectNoText,
    expectPath, expectText, fail, idFromUrl, log, lumiEnv, lumiRun, run, shot, sleep, startFakes,
    startServer, step, watchPages,
} from './lib.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'browser-admin-pass-123';
const CLIENT_EMAIL = 'ada@example.com';
const CLIENT_PASSWORD = 'browser-client-pass-123';

// ---- the flow ---------------------------------------------------------------

async function flow(ctx, base) {
    const admin = await ctx.newPage();
    H.currentPage = admin;
    const S = H.fakes.vars;
    let serverId = 0;

    await step('admin pages redirect to the login page without a session', async () => {
        await admin.goto(`${base}/admin/servers`);
        await expectPath(admin, /^\/admin\/login/);
        await admin.getByLabel('E-mail address').waitFor();
    });

    await step('log in as admin at /admin/login', async () => {
        await admin.goto(`${base}/admin/login`);
        await shot(admin, 'login');
        await admin.getByLabel('E-mail address').fill(ADMIN_EMAIL);
        await admin.getByLabel('Password').fill('not-the-password');
        await admin.getByRole('button', { name: 'Log in' }).click();
        await expectPath(admin, /^\/admin\/login/);
        await expectText(admin, /invalid|incorrect|wrong/i);
        await admin.getByLabel('E-mail address').fill(ADMIN_EMAIL);
        await admin.getByLabel('Password').fill(ADMIN_PASSWORD);
        await admin.getByRole('button', { name: 'Log in' }).click();
        await expectPath(admin, /^\/admin(\/?$|\?)/);
        await expectText(admin, ADMIN_EMAIL, 'nav');
    });

    await step('dashboard', async () => {
        await admin.goto(`${base}/admin`);
        await expectText(admin, 'Dashboard', 'h1');
    });

    await step('add a Pterodactyl server pointing at the fake panel', async () => {
        await admin.getByRole('link', { name: 'Servers', exact: true }).first().click();
        await expectPath(admin, /^\/admin\/servers(\?|$)/);
        await admin.getByRole('link', { name: 'Add server' }).click();
        await admin.getByRole('link', { name: 'Pterodactyl' }).click();
        await expectPath(admin, /^\/admin\/servers\/new\?type=pterodactyl/);
        await admin.getByLabel('Name').fill('Game panel <b>1</b>');
        await admin.getByLabel('Panel URL').fill(S.PTERO_URL);
        await admin.getByLabel('API key').fill(S.PTERO_API_KEY);
        await admin.getByRole('button', { name: 'Add server' }).click();
        await expectPath(admin, /^\/admin\/servers(\?|$)/);
        await expectFlashOk(admin);
        const row = admin.locator('tr.server-row', { hasText: 'Game panel <b>1</b>' });
        await row.waitFor({ timeout: STEP_TIMEOUT_MS });
        serverId = Number(await row.getAttribute('data-id'));
        if (!(serverId > 0)) fail('the new server row has no id');
        // The name is text, not markup.
        if (await row.locator('td.name b').count()) fail('the server name was rendered as HTML');
        await expectText(admin, S.PTERO_URL, 'tr.server-row');
        await expectText(admin, 'never tested', 'tr.server-row');
        // The API key is write-only: it is nowhere on the page.
        if ((await admin.content()).includes(S.PTERO_API_KEY)) fail('the API key is on the page');
    });

    await step('Test connection shows the success message in place', async () => {
        const row = admin.locator(`tr.server-row[data-id="${serverId}"]`);
        // A marker in the window survives only if the page is not reloaded: the
        // result must come in place (app.js), not through a new page.
        await admin.evaluate(() => { window.lumiBrowserTestMarker = 1; });
        await row.getByRole('button', { name: 'Test connection' }).click();
        const cell = row.locator('.test-result');
        await expectText(admin, /OK .*\(\d+ ms\)/, `tr.server-row[data-id="${serverId}"] .test-result`);
        await expectNoText(admin, 'testing', `tr.server-row[data-id="${serverId}"] .test-result`);
        if (!(await cell.locator('.badge-ok').count())) fail('no OK badge after the connection test');
        if (!(await admin.evaluate(() => window.lumiBrowserTestMarker === 1))) {
            fail('the page was reloaded: the test result did not come in place');
        }
        // The result is stored: a reload (no JavaScript involved) still shows it.
        await admin.reload();
        await expectText(admin, /OK/, `tr.server-row[data-id="${serverId}"] .test-result`);
        await expectNoText(admin, 'never tested', `tr.server-row[data-id="${serverId}"] .test-result`);
        await shot(admin, 'servers');
    });

    await step('audit log shows the server added and tested', async () => {
        await admin.goto(`${base}/admin/audit-logs`);
        await expectText(admin, /SERVER_CREATED|SERVER_ADDED/);
    });

    const product = { name: 'Minecraft 1G', id: 0 };
    await step('create a product on that server (/admin/products/new)', async () => {
        await admin.getByRole('link', { name: 'Products', exact: true }).first().click();
        await expectPath(admin, /^\/admin\/products(\?|$)/);
        await admin.getByRole('link', { name: 'Add product' }).click();
        await expectPath(admin, /^\/admin\/products\/new/);
        // First the server (the module configuration depends on its panel).
        await admin.locator('li.server-choice').getByRole('link', { name: 'Game panel <b>1</b>' }).click();
        await expectPath(admin, new RegExp(`^/admin/products/new\\?server_id=${serverId}`));
        await admin.getByLabel('Name', { exact: true }).fill(product.name);
        await admin.getByLabel(/^Type/).selectOption({ label: 'Game server' });
        await admin.getByLabel('Price').fill('15.00');
        await admin.getByLabel('Setup fee').fill('5.00');
        await admin.getByLabel('Currency', { exact: true }).fill('usd');
        await admin.getByLabel(/^Billing cycle/).selectOption({ label: 'Monthly' });
        await admin.getByLabel(/^Set up/).selectOption({ label: 'When the first invoice is paid' });
        // The nest/egg/location choices are loaded live from the (fake) panel.
        if (await admin.locator('.panel-error').count()) {
            fail(`the product form could not load the panel's choices: ${await admin.locator('.panel-error').innerText()}`);
        }
        const egg = admin.getByLabel(/^Egg/);
        await egg.locator('option', { hasText: 'Paper' }).waitFor({ state: 'attached' });
        if (!(await egg.locator('optgroup[label="Minecraft"] option', { hasText: 'Vanilla' }).count())) {
            fail('the egg list is not grouped by the panel\'s nests');
        }
        await egg.selectOption({ label: 'Paper' });
        const location = admin.getByLabel(/^Location/);
        const us1 = await location.locator('option', { hasText: 'us1' }).getAttribute('value');
        await location.selectOption(us1);
        await admin.getByLabel('Memory (MiB)').fill('1024');
        await admin.getByLabel('Disk (MiB)').fill('2048');
        await admin.getByRole('button', { name: 'Add product' }).click();
        await expectPath(admin, /^\/admin\/products(\?|$)/);
        await expectFlashOk(admin);
        const row = admin.locator('tr.product-row', { hasText: product.name });
        await row.waitFor();
        product.id = Number(await row.getAttribute('data-id'));
        await expectText(admin, '15.00', `tr.product-row[data-id="${product.id}"] .price`);
        await expectText(admin, 'monthly', `tr.product-row[data-id="${product.id}"]`);
        await shot(admin, 'products');
    });

    const client = { id: 0, last: 'Lovelace<script>window.lumiXss=1</script>' };
    await step('create a client with a password (/admin/clients/new)', async () => {
        await admin.getByRole('link', { name: 'Clients', exact: true }).first().click();
        await expectPath(admin, /^\/admin\/clients(\?|$)/);
        await admin.getByRole('link', { name: 'Add client' }).click();
        await expectPath(admin, /^\/admin\/clients\/new/);
        await admin.getByLabel('E-mail').fill(CLIENT_EMAIL);
        await admin.getByLabel('First name').fill('Ada');
        await admin.getByLabel('Last name').fill(client.last);
        await admin.getByLabel('Currency', { exact: true }).fill('usd');
        await admin.getByLabel('Password').fill(CLIENT_PASSWORD);
        await admin.getByRole('button', { name: 'Add client' }).click();
        await expectPath(admin, /^\/admin\/clients\/\d+/);
        await expectFlashOk(admin);
        client.id = idFromUrl(admin, '/admin/clients');
        await admin.goto(`${base}/admin/clients`);
        const row = admin.locator(`tr.client-row[data-id="${client.id}"]`);
        await expectText(admin, CLIENT_EMAIL, `tr.client-row[data-id="${client.id}"]`);
        // The stored <script> is shown as text and never runs.
        await expectText(admin, '<script>', `tr.client-row[data-id="${client.id}"] .name`);
        if (await row.locator('script').count()) fail('the client name was rendered as markup');
        if (await admin.evaluate(() => window.lumiXss === 1)) fail('the script in the client name ran');
        if ((await admin.content()).includes(CLIENT_PASSWORD)) fail('the password is on the page');
        await shot(admin, 'clients');
    });

    const order = { serviceId: 0, invoiceId: 0 };
    await step('order a service for the client (/admin/services/new)', async () => {
        await admin.getByRole('link', { name: 'Services', exact: true }).first().click();
        await expectPath(admin, /^\/admin\/services(\?|$)/);
        await admin.getByRole('link', { name: 'Order a service' }).click();
        await expectPath(admin, /^\/admin\/services\/new/);
        const clientSel = admin.getByLabel(/^Client/);
        const clientOpt = await clientSel.locator('option', { hasText: CLIENT_EMAIL }).getAttribute('value');
        await clientSel.selectOption(clientOpt);
        const productSel = admin.getByLabel(/^Product/);
        const productOpt = await productSel.locator('option', { hasText: product.name }).getAttribute('value');
        await productSel.selectOption(productOpt);
        await admin.getByRole('button', { name: 'Place order' }).click();
        await expectPath(admin, /^\/admin\/services\/\d+/);
        await expectFlashOk(admin);
        order.serviceId = idFromUrl(admin, '/admin/services');
        await expectText(admin, /pending/i, '.head-row .badge');
    });

    await step('the order\'s invoice is unpaid on /admin/invoices', async () => {
        await admin.getByRole('link', { name: 'Invoices', exact: true }).first().click();
        await expectPath(admin, /^\/admin\/invoices(\?|$)/);
        const row = admin.locator('tr.invoice-row', { hasText: CLIENT_EMAIL })
            .or(admin.locator('tr.invoice-row', { hasText: 'Ada' })).first();
        await row.waitFor();
        order.invoiceId = Number(await row.getAttribute('data-id'));
        const sel = `tr.invoice-row[data-id="${order.invoiceId}"]`;
        await expectText(admin, '20.00', sel); // 15.00 + 5.00 setup fee
        await expectText(admin, /unpaid/i, `${sel} td:nth-child(3)`);
        await shot(admin, 'invoices');
        await row.getByRole('link').first().click();
        await expectPath(admin, new RegExp(`^/admin/invoices/${order.invoiceId}`));
        await expectText(admin, product.name, 'table.items');
        await expectText(admin, '20.00', 'table.items .total');
        await shot(admin, 'invoice-detail');
    });

    // The client, in a browser context of their own (their own cookies).
    const clientCtx = await ctx.browser().newContext({ viewport: { width: 1280, height: 900 } });
    clientCtx.setDefaultTimeout(STEP_TIMEOUT_MS);
    watchPages(clientCtx);
    const cl = await clientCtx.newPage();
    H.currentPage = cl;
    let sessionId = '';

    await step('log in as the client at /client/login', async () => {
        await cl.goto(`${base}/client/login`);
        await cl.getByLabel('E-mail address').fill(CLIENT_EMAIL);
        await cl.getByLabel('Password').fill(CLIENT_PASSWORD);
        await cl.getByRole('button', { name: 'Log in' }).click();
        await expectPath(cl, /^\/client(\/?$|\?)/);
        await expectText(cl, 'Welcome, Ada', 'h1');
        await shot(cl, 'client-home');
    });

    await step('open the invoice (/client/invoices/{id})', async () => {
        await cl.goto(`${base}/client/invoices/${order.invoiceId}`);
        await expectText(cl, /unpaid/i, '.head-row .badge');
        await expectText(cl, product.name, 'table.items');
        await expectText(cl, '20.00', 'table.items .amount-due');
        await shot(cl, 'client-invoice');
    });

    await step('"Pay with Stripe" leads to the fake Stripe checkout', async () => {
        await cl.getByRole('button', { name: 'Pay with Stripe' }).click();
        // Fails at once when the browser refuses the navigation (a CSP violation is
        // reported on the console, and the page just stays where it is).
        const deadline = Date.now() + STEP_TIMEOUT_MS;
        while (!cl.url().startsWith(`${S.STRIPE_API_BASE}/pay/`)) {
            if (H.problems.length || Date.now() > deadline) {
                fail(`expected the Stripe checkout, the browser is on ${cl.url()}`
                     + (H.problems.length ? `; the page reported:\n  ${H.problems.join('\n  ')}` : ''));
            }
            await sleep(100);
        }
        await cl.waitForLoadState();
        sessionId = cl.url().split('/pay/')[1];
        // The fake's checkout page has no payment form (Stripe's checkout.stripe.com has):
        // the test completes the session itself below.
        await cl.getByRole('heading', { name: 'Fake Stripe Checkout' }).waitFor();
        await shot(cl, 'stripe-checkout');
        const [status, paid, amount, currency] = await H.fakes.command(`session ${sessionId}`);
        if (status !== 'open' || paid !== 'unpaid' || amount !== '2000' || currency !== 'usd') {
            fail(`the checkout session is ${status}/${paid} for ${amount} ${currency}, expected open/unpaid 2000 usd`);
        }
    });

    await step('pay: the signed webhook is accepted and the invoice shows paid', async () => {
        const [status] = await H.fakes.command(`pay ${sessionId} ${base}/api/stripe/webhook`);
        if (status !== '200') fail(`POST /api/stripe/webhook answered ${status}`);
        // The buyer returns to success_url (Stripe fills in the session id).
        const answer = await H.fakes.command(`session ${sessionId}`);
        const success = answer[4].replace('{CHECKOUT_SESSION_ID}', sessionId);
        if (!success.startsWith(`${base}/client/invoices/${order.invoiceId}`)) {
            fail(`success_url is ${success}`);
        }
        await cl.goto(success);
        await expectText(cl, /^paid$/i, '.head-row .badge');
        if (await cl.getByRole('button', { name: 'Pay with Stripe' }).count()) {
            fail('a paid invoice still offers "Pay with Stripe"');
        }
        await expectText(cl, '0.00', 'table.items .amount-due');
        await expectText(cl, /stripe/i, 'table.payments');
        await shot(cl, 'client-invoice-paid');
    });
    await clientCtx.close();
    H.currentPage = admin;

    await step('the service becomes active (provisioned on the fake panel)', async () => {
        const deadline = Date.now() + PROVISION_WAIT_MS;
        let status = '';
        for (;;) {
            await admin.goto(`${base}/admin/services/${order.serviceId}`);
            status = (await admin.locator('.head-row .badge').first().innerText()).trim();
            if (status === 'active' || Date.now() > deadline) break;
            await sleep(500);
        }
        if (status !== 'active') {
            const body = await admin.locator('main').innerText();
            fail(`service ${order.serviceId} is still "${status}" after ${PROVISION_WAIT_MS / 1000} s:\n${body.slice(0, 2000)}`);
        }
        const panelId = (await admin.locator('dt:text-is("Panel id") + dd').innerText()).trim();
        if (panelId === '') fail('an active service without a panel id');
        const [servers] = await H.fakes.command('ptero');
        if (servers !== '1') fail(`the fake panel has ${servers} servers, expected 1`);
        await expectText(admin, /provision\s+done/, 'table.jobs tr.job-row');
        await shot(admin, 'service-detail');
        await admin.getByRole('link', { name: 'Back to the services' }).click();
        await expectText(admin, 'active', `tr.service-row[data-id="${order.serviceId}"]`);
        await shot(admin, 'services');
    });

    await step('the invoice is paid on the admin side, the dashboard counts it', async () => {
        await admin.goto(`${base}/admin/invoices/${order.invoiceId}`);
        await expectText(admin, /^paid$/i, '.head-row h1 span');
        await expectText(admin, /stripe/i, 'table.transactions');
        await expectText(admin, '20.00', 'table.items .amount-paid');
        await admin.goto(`${base}/admin`);
        await expectText(admin, 'Dashboard', 'h1');
        await expectText(admin, /Revenue this month[\s\S]*20\.00 USD/);
        await shot(admin, 'dashboard');
    });

    await step('/admin/audit-logs shows PAYMENT_RECEIVED and SERVICE_PROVISIONED', async () => {
        await admin.getByRole('link', { name: 'Audit log', exact: true }).first().click();
        await expectPath(admin, /^\/admin\/audit-logs(\?|$)/);
        await expectText(admin, /chain intact/i);
        const paid = admin.locator('tr.audit-row', { hasText: 'PAYMENT_RECEIVED' });
        await expectText(admin, `invoice #${order.invoiceId}`, 'tr.audit-row:has(td.action:text-is("PAYMENT_RECEIVED"))');
        await expectText(admin, /stripe/, 'tr.audit-row:has(td.action:text-is("PAYMENT_RECEIVED"))');
        await expectText(admin, `service #${order.serviceId}`, 'tr.audit-row:has(td.action:text-is("SERVICE_PROVISIONED"))');
        // Newest first: the provisioning came after the payment.
        const actions = await admin.locator('tr.audit-row td.action').allInnerTexts();
        if (actions.indexOf('SERVICE_PROVISIONED') > actions.indexOf('PAYMENT_RECEIVED')) {
            fail(`the audit log is not newest first: ${actions.join(', ')}`);
        }
        await shot(admin, 'audit-log');
        // The filter finds the payment alone, and its detail holds the amount.
        await admin.getByLabel('Action').fill('PAYMENT_RECEIVED');
        await admin.getByRole('button', { name: 'Filter' }).click();
        await expectPath(admin, /^\/admin\/audit-logs\?.*action=PAYMENT_RECEIVED/);
        const rows = await admin.locator('tr.audit-row td.action').allInnerTexts();
        if (rows.length !== 1 || rows[0] !== 'PAYMENT_RECEIVED') {
            fail(`filtering on PAYMENT_RECEIVED shows ${rows.join(', ') || 'nothing'}`);
        }
        await paid.getByRole('link').first().click();
        await expectPath(admin, /^\/admin\/audit-logs\/\d+/);
        await expectText(admin, '2000');
        await shot(admin, 'audit-detail');
    });

}

// ---- main -------------------------------------------------------------------

async function main() {
    H.fakes = await startFakes();
    const S = H.fakes.vars;
    const env = {
        DATABASE_URL: `sqlite:${path.join(H.tmpDir, 'lumi.db')}`,
        LUMI_SECRET_KEY: SECRET_KEY,
        STRIPE_SECRET_KEY: S.STRIPE_SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY: 'pk_test_browserFlow',
        STRIPE_WEBHOOK_SECRET: S.STRIPE_WEBHOOK_SECRET,
        STRIPE_API_BASE: S.STRIPE_API_BASE,
    };
    lumiRun(['migrate'], lumiEnv(env));
    lumiRun(['admin', 'create', ADMIN_EMAIL], lumiEnv(env), `${ADMIN_PASSWORD}\n`);
    H.server = await startServer(env);
    log(`lumi serve on ${H.server.base}; fake panel ${S.PTERO_URL}; fake Stripe ${S.STRIPE_API_BASE}`);

    H.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const ctx = await H.browser.newContext({ viewport: { width: 1280, height: 900 } });
    ctx.setDefaultTimeout(STEP_TIMEOUT_MS);
    watchPages(ctx);

    await flow(ctx, H.server.base);
    if (H.problems.length) fail(`the pages reported problems:\n  ${H.problems.join('\n  ')}`);
}


await run('flow', main);
