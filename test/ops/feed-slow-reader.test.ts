/**
 * A feed reader that stops reading is dropped once it is a megabyte behind, while a reader that keeps
 * up gets every event and the service goes on. The events are emitted into the service's own event
 * bus (as its sessions emit them), many and large, to fill the socket buffers quickly; the readers
 * are real WebSocket clients, one of them with its socket paused.
 */
import t from 'tap';
import WebSocket from 'ws';
import { FeedReader, getJson } from '../helpers/ops.js';
import { startTestService } from '../helpers/service.js';

t.test('a slow reader is dropped, a fast one is not', async (t) => {
  const service = await startTestService();
  t.teardown(async () => { await service.stop(); await service.cleanup(); });
  const feedUrl = `${service.opsUrl.replace(/^http/, 'ws')}/events?type=store_trouble,feed_reader_dropped`;
  const fast = await FeedReader.connect(service.opsUrl, '?type=store_trouble,feed_reader_dropped');
  const slow = new WebSocket(feedUrl);
  await new Promise((resolve) => slow.once('open', resolve));
  // it never reads again: what the service sends piles up in the kernel's buffers, then in its own
  (slow as unknown as { _socket: { pause(): void } })._socket.pause();

  const detail = 'x'.repeat(1000);
  const BATCHES = 200;
  const PER_BATCH = 250;
  for (let b = 0; b < BATCHES; b++) {
    for (let n = 0; n < PER_BATCH; n++) service.events.emit({ type: 'store_trouble', reason: 'test', detail, round: b * PER_BATCH + n });
    await new Promise((resolve) => setImmediate(resolve));
  }
  // (a paused socket does not notice its end: the reader that keeps up hears of it)
  const dropped = await fast.waitFor((e) => e.type === 'feed_reader_dropped', 30_000);
  t.match(dropped, { address: '127.0.0.1', detail: /more than 1048576 bytes unread/ }, 'the slow reader was dropped');
  t.equal(fast.events.filter((e) => e.type === 'feed_reader_dropped').length, 1, 'once');
  slow.terminate();
  await fast.waitFor((e) => e.round === BATCHES * PER_BATCH - 1, 60_000);
  t.equal(fast.events.filter((e) => e.type === 'store_trouble').length, BATCHES * PER_BATCH, 'the fast reader got every event');
  t.equal((await getJson(`${service.opsUrl}/health`)).status, 200, 'and the service goes on');
  fast.close();
});
