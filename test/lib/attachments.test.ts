/**
 * Where clients are attached, seen from every instance on one Redis (lib/store/attachments.ts,
 * lib/channel/presence.ts), on the real Redis under a key prefix of its own: a record counts only while
 * the instance that wrote it vouches for it with the same incarnation, so an instance that died (its
 * vouch ran out), stopped (withdrew it) or was started again under the same name leaves no "attached"
 * behind; a detach deletes only its own record; and an instance's presence writes the record on attach,
 * deletes it on detach and on stop, and writes its records again when its vouch had lapsed and a reader
 * took them for stale; a participant that named no delegate is not recorded.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { encode, Encoding } from '../../lib/sdk.js';
import { Redis } from 'ioredis';
import type { ChannelId, Role } from '../../fsm/types.js';
import { ClientPresence, type Present } from '../../lib/channel/presence.js';
import { silentLogger } from '../../lib/log.js';
import { holderOf, RedisAttachments } from '../../lib/store/attachments.js';
import { REDIS_URL } from '../helpers/storage.js';

const prefix = `aesc-test:${randomBytes(6).toString('hex')}:`;
const connections: Redis[] = [];
const recordKey = (id: ChannelId, role: Role) => `${prefix}{${id}}:${role}`;
function attachments(): RedisAttachments {
  const redis = new Redis(REDIS_URL);
  connections.push(redis);
  return new RedisAttachments(redis, prefix, recordKey);
}
const channelId = () => encode(randomBytes(32), Encoding.Channel) as ChannelId;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 5000; !(await check());) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.teardown(async () => {
  const keys = await connections[0]!.keys(`${prefix}*`);
  if (keys.length) await connections[0]!.del(...keys);
  await Promise.all(connections.map((c) => c.quit()));
});

t.test('a record counts while its instance vouches for it, with the same incarnation', async (t) => {
  const [a, watcher] = [attachments(), attachments()];
  const id = channelId();
  t.equal(await watcher.attachedAt(id, 'responder'), null, 'nobody attached: null');
  t.notOk(await a.vouch('instance-a', 'one', 10_000), 'the first vouch continues nothing');
  t.ok(await a.vouch('instance-a', 'one', 10_000), 'a renewal continues it');
  await a.attached(id, 'responder', holderOf('instance-a', 'one'));
  t.equal(await watcher.attachedAt(id, 'responder'), 'instance-a', 'attached at a live instance');
  t.equal(await watcher.attachedAt(id, 'initiator'), null, 'the other participant is not');

  await a.detached(id, 'responder', holderOf('instance-b', 'two'));
  t.equal(await watcher.attachedAt(id, 'responder'), 'instance-a', 'another holder\'s detach leaves the record alone');
  await a.detached(id, 'responder', holderOf('instance-a', 'one'));
  t.equal(await watcher.attachedAt(id, 'responder'), null, 'its own detach deletes it');
});

t.test('an instance that died, stopped or started again under its name leaves no "attached" behind', async (t) => {
  const [a, watcher] = [attachments(), attachments()];
  const raw = connections.at(-1)!;
  const [died, stopped, restarted] = [channelId(), channelId(), channelId()];

  await a.vouch('dies', 'one', 300);
  await a.attached(died, 'initiator', holderOf('dies', 'one'));
  t.equal(await watcher.attachedAt(died, 'initiator'), 'dies');
  await sleep(400);
  t.equal(await watcher.attachedAt(died, 'initiator'), null, 'its vouch ran out: the record counts no more');
  t.equal(await raw.get(`${recordKey(died, 'initiator')}:client`), null, 'and is deleted as it is read');

  await a.vouch('stops', 'one', 10_000);
  await a.attached(stopped, 'initiator', holderOf('stops', 'one'));
  await a.withdraw('stops', 'one');
  t.equal(await watcher.attachedAt(stopped, 'initiator'), null, 'a clean stop withdraws every record at once');

  await a.vouch('worker:w0', 'first', 10_000);
  await a.attached(restarted, 'responder', holderOf('worker:w0', 'first'));
  await a.vouch('worker:w0', 'second', 10_000);
  t.equal(await watcher.attachedAt(restarted, 'responder'), null, 'a process started again under the name does not vouch for its predecessor\'s records');
  await a.withdraw('worker:w0', 'first');
  t.notOk(await a.vouch('worker:w0', 'first', 10_000), 'the predecessor\'s withdraw left the new vouch alone (the old one continues nothing)');
});

t.test('an instance\'s presence follows its sessions\' clients, and writes its records again after a lapse', async (t) => {
  const store = attachments();
  const watcher = attachments();
  const raw = connections.at(-1)!;
  const presence = await ClientPresence.start({ attachments: store, instance: 'instance-p', ttlMs: 400, everyMs: 100, log: silentLogger() });
  t.teardown(() => presence.close());
  const delegates = ['ak_watchtower'];
  const session: { role: Role; channelId: ChannelId | null; attached: boolean; isStopped: boolean; delegates: string[] } = { role: 'responder', channelId: null, attached: true, isStopped: false, delegates };
  const at = () => watcher.attachedAt(session.channelId!, 'responder');

  presence.changed(session);
  session.channelId = channelId();
  await sleep(50);
  t.equal(await at(), null, 'a client of a channel that does not exist yet: nothing written');
  presence.changed(session);
  await until(async () => (await at()) === 'instance-p', 'the record');
  t.pass('the channel exists: the client is attached here');

  session.attached = false;
  presence.changed(session);
  await until(async () => (await at()) === null, 'the detach');
  t.pass('the client went: attached nowhere');
  session.attached = true;
  presence.changed(session);
  await until(async () => (await at()) === 'instance-p', 'the attach');

  // its vouch lapses (as while Redis could not be reached) and a watchtower deletes the record as stale
  await raw.multi().del(`${prefix}{clients:instance-p}`).del(`${recordKey(session.channelId!, 'responder')}:client`).exec();
  await until(async () => (await at()) === 'instance-p', 'the record written again');
  t.pass('the next renewal found the lapse and wrote the record again');

  session.isStopped = true;
  presence.changed(session);
  await until(async () => (await at()) === null, 'the stop');
  t.pass('the FSM stopped here: attached nowhere');

  const other: Present = { role: 'initiator', channelId: channelId(), attached: true, isStopped: false, delegates };
  const unguarded: Present = { role: 'initiator', channelId: channelId(), attached: true, isStopped: false, delegates: [] };
  presence.changed(unguarded);
  presence.changed(other);
  await until(async () => (await watcher.attachedAt(other.channelId!, 'initiator')) === 'instance-p', 'another record');
  t.equal(await watcher.attachedAt(unguarded.channelId!, 'initiator'), null, 'a participant that named no delegate is not recorded: nobody would read it');
  await presence.close();
  t.equal(await watcher.attachedAt(other.channelId!, 'initiator'), null, 'the instance stopped: none of its records counts');
});
