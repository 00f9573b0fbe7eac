/**
 * The channel watcher's news, block by block. A chain that forks cannot be had from the dev chain, so
 * this one is scripted: each block shows the channel object the test sets (the watcher reads nothing
 * else of a chain).
 */
import t from 'tap';
import { ChannelWatcher, type ChannelChange } from '../../lib/chain/channel-watcher.js';
import type { Chain, ChannelObject } from '../../lib/chain/types.js';
import type { ChannelId } from '../../fsm/types.js';

const id = 'ch_2CzbXD38sjii5eM1nMLtASBvtpKgfUGJSp3MofesFH5DWro8GJ' as ChannelId;

function scriptedChain() {
  let onBlock: ((height: number) => void) | null = null;
  let current: ChannelObject | null = null;
  let height = 0;
  const chain = {
    onBlock: (listener: (height: number) => void) => { onBlock = listener; return () => { onBlock = null; }; },
    channel: async () => current,
    channelTx: async () => null,
  } as unknown as Chain;
  return {
    chain,
    set(channel: ChannelObject | null) { current = channel; },
    block() { onBlock?.(++height); },
  };
}

const channel = (round: number, lockedUntil = 0) => ({ id, round, lockedUntil, channelAmount: 10n, stateHash: `st_${round}` }) as unknown as ChannelObject;
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

t.test('a channel that comes back after it closed (a fork undid the close) is a change; before it ever existed it is not', async (t) => {
  const script = scriptedChain();
  const watcher = new ChannelWatcher(script.chain);
  t.teardown(() => watcher.close());
  const seen: Array<ChannelChange['kind']> = [];
  watcher.follow(id, (change) => seen.push(change.kind));
  await settle();
  script.block(); await settle();
  script.set(channel(1)); script.block(); await settle();
  t.same(seen, [], 'the channel appearing (its create tx mined) is no news');
  script.set(channel(2)); script.block(); await settle();
  script.set(null); script.block(); await settle();
  script.set(channel(2)); script.block(); await settle();
  t.same(seen, ['changed', 'closed', 'changed'], 'the FSM hears that the closed channel is back (zombie_channel)');
});
