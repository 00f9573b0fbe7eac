/**
 * The pairing directory on the test Redis, under a key prefix of its own: an entry is found while it
 * is renewed, gone once its time-to-live runs out (an instance that died) or once it is taken out, and
 * an entry of one instance leaves the others' under the same key alone.
 */
import t from 'tap';
import { RedisPairingDirectory } from '../../lib/store/pairing-directory.js';
import { testStorage } from '../helpers/storage.js';

const until = async (check: () => Promise<boolean>, ms: number) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
};

t.test('register, renew, expire, unregister', async (t) => {
  const storage = testStorage('redis');
  t.teardown(() => storage.cleanup());
  const directory = await RedisPairingDirectory.connect(storage.redis);
  t.teardown(() => directory.close());
  const key = '3114|ak_responder|new';

  t.same(await directory.lookup(key), [], 'nothing before a responder waits');
  await directory.register(key, '127.0.0.1:40001', 60_000);
  await directory.register(key, '127.0.0.1:40002', 400);
  t.same((await directory.lookup(key)).sort(), ['127.0.0.1:40001', '127.0.0.1:40002'], 'both instances found');
  t.same(await directory.lookup('3114|ak_other|new'), [], 'another key finds neither');

  t.ok(await until(async () => (await directory.lookup(key)).length === 1, 10_000), 'an entry not renewed expires');
  t.same(await directory.lookup(key), ['127.0.0.1:40001'], 'the renewed one stays');

  await directory.unregister(key, '127.0.0.1:40001');
  t.same(await directory.lookup(key), [], 'taken out when its responder no longer waits');
});
