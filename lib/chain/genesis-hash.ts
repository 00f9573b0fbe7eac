/**
 * The chain hash peer messages carry (channel_open, channel_accept, channel_reestablish): the node
 * puts its genesis block's hash there (aec_chain:genesis_hash/0), and a peer on another chain is
 * refused by it. An external node is asked for its block at height 0. The embedded dev chain has no
 * blocks with hashes, so its chain hash is made from the network id: two services on one dev network
 * (one on the embedded chain, the other pointed at its node API) agree on it.
 */
import type { Chain } from './types.js';
import { blake2b256 } from '../tx/crypto.js';
import { decode } from '../tx/encoding.js';

export async function genesisHash(chain: Chain, nodeUrl: string): Promise<Uint8Array> {
  if (nodeUrl) {
    const answer = await fetch(new URL('v3/key-blocks/height/0', nodeUrl.endsWith('/') ? nodeUrl : `${nodeUrl}/`)).catch(() => null);
    const hash = answer?.ok ? ((await answer.json().catch(() => null)) as { hash?: string } | null)?.hash : undefined;
    if (hash?.startsWith('kh_')) {
      try {
        return decode(hash as `kh_${string}`);
      } catch {
        // not a block hash: fall back below
      }
    }
  }
  return blake2b256(Buffer.from(`dev-chain genesis of ${chain.networkId}`));
}
