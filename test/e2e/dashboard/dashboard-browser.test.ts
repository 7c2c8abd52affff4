/**
 * The host's dashboard in a real browser (Debian's chromium driven by playwright-core) against a
 * real proxima-server process and real proxima-client processes: a wrong token is refused with no
 * cookie; the admin logs in, sees a node come online when its client connects and go offline when
 * it stops, and a chart with data after real requests; a model named like an HTML tag shows as
 * text and runs nothing; an operator sees their own node only.
 * With PROXIMA_SCREENSHOTS=1 it saves docs/images/dashboard-admin.png and dashboard-operator.png.
 */

import type { Page } from 'playwright-core';
import t from 'tap';
import { haveChromium, launchChromium } from '../../fixtures/browser/chromium.js';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { repoPath } from '../../fixtures/paths.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';

const ADMIN = 'admin-token-for-the-dashboard-browser-test';
/** No spaces: a model name cannot hold one (advert-fields.ts), so this is the space-free form of `<img src=x onerror=alert(1)>`. */
const TAG_MODEL = '<img/src/onerror=alert(1)>';
const SCREENSHOTS = process.env.PROXIMA_SCREENSHOTS === '1';
const WAIT = { timeout: 20_000 };

/** The page's last state, as its script keeps it. */
const stateOf = (page: Page): Promise<any> => page.evaluate(() => (globalThis as any).proximaDashboard?.state ?? null);

t.test(
  'the dashboard in chromium, on a real super node',
  { skip: haveChromium() ? false : 'no /usr/bin/chromium (apt-get install chromium)' },
  async (t) => {
    const models = [{ name: 'llama3.2', answerTokens: 8 }, { name: TAG_MODEL }];
    const fakes = { alpha: await startFakeOllama({ models }), beta: await startFakeOllama({ models: [{ name: 'qwen2.5:0.5b' }] }) };
    t.teardown(() => Promise.all(Object.values(fakes).map((f) => f.destroy())));
    const net = await startProcessNetwork(t, { alpha: fakes.alpha }, [`admin: { listen: "127.0.0.1:0", token: ${ADMIN} }`]);
    const base = `${net.adminBase!}/dashboard`;
    const browser = await launchChromium(t);
    const admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await admin.newPage();
    const dialogs: string[] = [];
    const pageErrors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await t.test('a wrong token: 401, the form again, no cookie', async (t) => {
      await page.goto(base);
      await page.fill('input[name=token]', 'not-the-admin-token-at-all');
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/dashboard/login')),
        page.click('button[type=submit]'),
      ]);
      t.equal(answer.status(), 401);
      await page.waitForSelector('.problem');
      t.match(await page.textContent('.problem'), /Wrong token/);
      t.same(await admin.cookies(), [], 'no cookie');
    });

    await t.test('the admin logs in and sees alpha online, with its models as text', async (t) => {
      await page.fill('input[name=token]', ADMIN);
      await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
      const [cookie] = await admin.cookies();
      t.match(cookie, { name: 'proxima_dashboard', httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
      t.notMatch(cookie!.value, ADMIN);
      await page.waitForFunction(
        () => (globalThis as any).proximaDashboard?.state?.nodes.some((n: any) => n.name === 'alpha' && n.online),
        undefined,
        WAIT,
      );
      const row = page.locator('#nodes tr', { hasText: 'alpha' });
      t.match(await row.textContent(), /online/);
      const cells = await page.locator('#nodes td, #models td').allTextContents();
      t.ok(
        cells.some((c) => c.includes(TAG_MODEL)),
        'the tag-like model name shows literally',
      );
      t.equal(await page.locator('img').count(), 0, 'no img element was made of it');
      t.same(dialogs, [], 'no dialog fired');
    });

    await t.test('beta comes online when its client connects, and goes offline when it stops', async (t) => {
      const client = await net.addNode('beta', fakes.beta);
      await page.waitForFunction(
        () => (globalThis as any).proximaDashboard?.state?.nodes.some((n: any) => n.name === 'beta' && n.online),
        undefined,
        WAIT,
      );
      t.match(await page.locator('#nodes tr', { hasText: 'beta' }).textContent(), /online/);
      client.child.kill('SIGTERM');
      await client.exited;
      await page.waitForFunction(
        () => (globalThis as any).proximaDashboard?.state?.nodes.some((n: any) => n.name === 'beta' && !n.online),
        undefined,
        WAIT,
      );
      await page.waitForFunction(
        () => /offline/.test((globalThis as any).document.querySelector('#nodes')?.textContent ?? ''),
        undefined,
        WAIT,
      );
      t.match(await page.locator('#nodes tr', { hasText: 'beta' }).textContent(), /offline/);
    });

    await t.test('after real requests, the traffic chart has data and is drawn', async (t) => {
      for (let i = 0; i < 6; i++) {
        const res = await net.post('/v1/chat/completions', { model: 'llama3.2', messages: [{ role: 'user', content: `hi ${i}` }] });
        t.equal(res.status, 200);
      }
      await page.waitForFunction(
        () => (globalThis as any).proximaDashboard?.state?.traffic.requestsPerS.some((v: number) => v > 0),
        undefined,
        WAIT,
      );
      const chart = await page.evaluate(() => {
        const view = (globalThis as any).proximaDashboard;
        const plot = view.charts.requestsPerS;
        const canvas = (globalThis as any).document.querySelector('#chart-requests canvas') as any;
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        // The series' stroke is #2b6cb0: count the pixels of that blue (antialiasing blurs some).
        let painted = 0;
        for (let i = 0; i < pixels.length; i += 4) {
          if (
            pixels[i + 3] > 200 &&
            Math.abs(pixels[i] - 0x2b) < 24 &&
            Math.abs(pixels[i + 1] - 0x6c) < 24 &&
            Math.abs(pixels[i + 2] - 0xb0) < 24
          )
            painted++;
        }
        return { points: plot.data[1].length, max: Math.max(...plot.data[1]), painted, tokens: Math.max(...view.state.traffic.tokensPerS) };
      });
      t.ok(chart.points > 0, `${chart.points} samples in the chart`);
      t.ok(chart.max > 0, `up to ${chart.max} requests/s drawn`);
      t.ok(chart.tokens > 0, `up to ${chart.tokens} tokens/s`);
      t.ok(chart.painted > 100, `${chart.painted} pixels of the series' blue: the line is drawn`);
      await page.waitForFunction(
        () => (globalThis as any).proximaDashboard?.state?.rewards[0].nodes.some((r: any) => r.node === 'alpha' && r.requests > 0),
        undefined,
        WAIT,
      );
      if (SCREENSHOTS) await page.screenshot({ path: repoPath('docs/images/dashboard-admin.png'), fullPage: true });
    });

    await t.test("an operator logged in with alpha's token sees alpha only", async (t) => {
      const operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      t.teardown(() => operator.close());
      const own = await operator.newPage();
      own.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await own.goto(base);
      await own.fill('input[name=node]', 'alpha');
      await own.fill('input[name=token]', net.tokens.alpha!);
      await Promise.all([own.waitForURL(`${base}/`), own.click('button[type=submit]')]);
      await own.waitForFunction(() => (globalThis as any).proximaDashboard?.state?.traffic.t.length > 0, undefined, WAIT);
      const state = await stateOf(own);
      t.same(state.viewer, { role: 'node', node: 'alpha' });
      t.same(
        state.nodes.map((n: any) => n.name),
        ['alpha'],
      );
      t.notMatch(await own.textContent('main'), /beta|qwen/, "nothing of beta's on the page");
      t.equal(await own.locator('img').count(), 0);
      if (SCREENSHOTS) await own.screenshot({ path: repoPath('docs/images/dashboard-operator.png'), fullPage: true });
      const revoked = await runNode('bin/proxima-server.js', ['nodes', 'revoke', 'alpha', '-c', net.serverFile], net.dir);
      t.equal(revoked.code, 0);
      await own.waitForSelector('form[action="/dashboard/login"]', WAIT);
      t.pass("revoked: the operator's page went back to the login form");
      const status = await own.evaluate(() => fetch('/dashboard/state').then((r) => r.status));
      t.equal(status, 401, 'and the state is refused');
    });

    t.same(dialogs, [], 'no dialog ever fired');
    t.same(pageErrors, [], 'no script error on the page');
  },
);
