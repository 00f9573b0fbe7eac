/**
 * The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core. Open the
 * page, run transfers through real clients, and watch the channel table, the chart and the feed change.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { openChannel } from '../helpers/channel.js';
import { startTestService } from '../helpers/service.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

t.test('the page shows the live table, the transfer chart and the feed', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  const service = await startTestService();
  let browser: Browser | undefined;
  t.teardown(async () => { await browser?.close(); await service.stop(); await service.cleanup(); });
  const ch = await openChannel(service, 'json-rpc');

  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${service.opsUrl}/`);
  const row = page.locator(`#channels tr[data-channel-id="${ch.channelId}"]`);
  await row.waitFor({ timeout: 15_000 });
  t.match(await row.textContent(), /^ch_\w+1/, 'the channel is listed at round 1');
  await page.waitForFunction(() => Number(document.getElementById('chart')!.dataset.points) >= 2, undefined, { timeout: 15_000 });
  const chartBefore = await page.evaluate(() => (document.getElementById('chart') as HTMLCanvasElement).toDataURL());
  await page.waitForFunction(() => document.getElementById('feed-state')!.textContent === 'live', undefined, { timeout: 15_000 });

  // transfers for a few seconds, as fast as the clients sign
  const [i, r] = [ch.initiatorAccount.address, ch.responderAccount.address];
  const until = Date.now() + 3_000;
  let done = 0;
  while (Date.now() < until) {
    ch.initiator.send('channels.update.new', { from: i, to: r, amount: 1 });
    await Promise.all([ch.initiator.nextMethod('channels.update'), ch.responder.nextMethod('channels.update')]);
    done++;
  }
  t.ok(done > 0, `${done} transfers`);

  await page.waitForFunction((n) => Number(document.getElementById('chart')!.dataset.total) >= n, done, { timeout: 15_000 });
  t.ok(Number(await page.locator('#chart').getAttribute('data-peak')) > 0, 'the chart shows a rate above zero');
  const chartAfter = await page.evaluate(() => (document.getElementById('chart') as HTMLCanvasElement).toDataURL());
  t.not(chartAfter, chartBefore, 'the chart was redrawn with the transfers');
  await page.waitForFunction(([id, round]) => {
    const cells = document.querySelector(`#channels tr[data-channel-id="${id}"]`)?.children;
    return cells && Number(cells[1]!.textContent) === round;
  }, [ch.channelId, done + 1] as const, { timeout: 15_000 });
  t.pass(`the table shows round ${done + 1}`);
  const feedTypes = await page.locator('#feed li').evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.type));
  t.ok(feedTypes.includes('update'), 'the feed shows the updates');
  t.same(errors, [], 'no script errors');
  ch.initiator.close(); ch.responder.close();
});
