/**
 * At start-up, the channels the store holds that the chain does not know: after a chain reset, or a
 * CHAIN_NODE_URL pointing at another network. They are said once, with their count, so an operator
 * sees it at once; their clients' reestablish is refused with the reason (lib/ws/server.ts).
 */
import { buildTxHash } from './sdk.js';
import type { ChannelId } from '../fsm/types.js';
import type { Chain } from './chain/types.js';
import type { Logger } from './log.js';
import type { ChannelStore } from './store/store.js';

const LOOKS_AT_ONCE = 64;

export async function channelsNotOnChain(store: ChannelStore, chain: Chain): Promise<ChannelId[]> {
  const ids = await store.channelIds();
  const missing: ChannelId[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      if (await chain.channel(id)) continue;
      const records = (await Promise.all([store.load(id, 'initiator'), store.load(id, 'responder')])).filter((r) => r !== null);
      // a channel closed on chain is gone from it by design
      if (records.some((r) => r.closed)) continue;
      // one whose create tx waits in the pool will be there in a block
      const create = records.find((r) => r.state.round === 1);
      if (create && (await chain.txStatus(buildTxHash(create.state.signedTx))).state === 'pending') continue;
      missing.push(id);
    }
  };
  await Promise.all(Array.from({ length: LOOKS_AT_ONCE }, worker));
  return missing;
}

export async function reportChannelsNotOnChain(store: ChannelStore, chain: Chain, log: Logger): Promise<void> {
  const missing = await channelsNotOnChain(store, chain);
  if (missing.length === 0) return;
  log.warn(`${missing.length} stored channel(s) are not on this chain (a chain reset, or another network): their clients cannot reestablish them`, {
    count: missing.length, network_id: chain.networkId, examples: missing.slice(0, 5),
  });
}
