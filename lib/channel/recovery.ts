/**
 * Getting a channel back after the service lost its records (data directory deleted, Redis flushed),
 * as µRaiden re-syncs a channel from the chain: the client brings the latest co-signed state it holds
 * (`offchain_tx`) and, unless the chain itself tells them, the balances in it as a proof of inclusion
 * (`offchain_poi`). Nothing the client says is trusted: both participants' signatures, the channel
 * object on chain and the state hash decide. A refusal names what did not check out.
 */
import { Tag, unpackTx } from '../sdk.js';
import type { Reason } from '../../fsm/reasons.js';
import type { Balances, ChannelId, ChannelParams, CoSignedState, EncodedTx, StateHash } from '../../fsm/types.js';
import type { Chain, ChannelObject } from '../chain/types.js';
import { channelId as deriveChannelId, channelStateHash, unpackSigned } from '../tx/channel-kit.js';
import { signingMessage, verifySignature } from '../tx/crypto.js';
import { decode } from '../tx/encoding.js';
import { readPoi } from '../tx/poi.js';

export interface RecoveryRequest {
  offchainTx: string;
  poi?: string;
  minimumDepth: number;
  minimumDepthStrategy: 'txfee' | 'plain';
}

export type Recovered =
  | { ok: true; params: ChannelParams; state: CoSignedState }
  | { ok: false; reason: Reason; detail: string };

const refuse = (reason: Reason, detail: string): Recovered => ({ ok: false, reason, detail });

/** The co-signed states a client can hold: the create tx (round 1), an off-chain, deposit or withdraw tx. */
function stateOf(inner: Record<string, unknown>): { channel: ChannelId; round: number; stateHash: StateHash } | null {
  switch (inner.tag) {
    case Tag.ChannelCreateTx:
      return {
        channel: deriveChannelId(inner.initiator as never, Number(inner.nonce), inner.responder as never),
        round: 1,
        stateHash: inner.stateHash as StateHash,
      };
    case Tag.ChannelOffChainTx:
    case Tag.ChannelDepositTx:
    case Tag.ChannelWithdrawTx:
      return { channel: inner.channelId as ChannelId, round: Number(inner.round), stateHash: inner.stateHash as StateHash };
    default:
      return null;
  }
}

export async function recoverFromChain(chain: Chain, channelId: ChannelId, request: RecoveryRequest): Promise<Recovered> {
  const signed = unpackSigned(request.offchainTx);
  if (!signed) return refuse('broken_encoding_transaction', 'offchain_tx is not a transaction');
  let inner: Record<string, unknown>;
  try {
    inner = unpackTx(signed.encodedTx) as unknown as Record<string, unknown>;
  } catch {
    return refuse('broken_encoding_transaction', 'offchain_tx does not decode');
  }
  const claimed = stateOf(inner);
  if (!claimed) return refuse('not_offchain_tx', 'offchain_tx must be a co-signed channel state (off-chain, create, deposit or withdraw tx)');
  if (claimed.channel !== channelId) return refuse('invalid_params', `offchain_tx is a state of ${claimed.channel}, not of ${channelId}`);

  const channel = await chain.channel(channelId);
  if (!channel) return refuse('channel_not_found', `channel ${channelId} is not on chain: it cannot be recovered`);
  const message = signingMessage(chain.networkId, decode(signed.encodedTx));
  for (const participant of [channel.initiator, channel.responder]) {
    if (!signed.signatures.some((s) => verifySignature(message, s, participant))) {
      return refuse('bad_signature', `offchain_tx is not signed by ${participant}`);
    }
  }
  if (claimed.round < channel.round) {
    return refuse('wrong_round', `offchain_tx is round ${claimed.round}, older than round ${channel.round} on chain`);
  }

  const params: ChannelParams = {
    initiatorId: channel.initiator,
    responderId: channel.responder,
    initiatorAmount: channel.initiatorAmount,
    responderAmount: channel.responderAmount,
    pushAmount: 0n,
    channelReserve: channel.channelReserve,
    lockPeriod: channel.lockPeriod,
    minimumDepth: request.minimumDepth,
    minimumDepthStrategy: request.minimumDepthStrategy,
    initiatorDelegateIds: channel.delegates.initiator,
    responderDelegateIds: channel.delegates.responder,
  };
  const balances = balancesOf(channel, params, claimed.stateHash, request.poi);
  if ('reason' in balances) return balances;
  return {
    ok: true,
    params,
    state: { round: claimed.round, balances, stateHash: claimed.stateHash, signedTx: request.offchainTx as EncodedTx, updates: [] },
  };
}

/**
 * The balances in the recovered state. A state hash does not reveal them: they come from the PoI,
 * or, without one, from the chain when the state is the one the channel was created with.
 */
function balancesOf(channel: ChannelObject, params: ChannelParams, stateHash: StateHash, poi: string | undefined): Balances | Extract<Recovered, { ok: false }> {
  if (poi === undefined) {
    const created = { initiator: channel.initiatorAmount, responder: channel.responderAmount };
    if (channelStateHash(params, created) === stateHash) return created;
    return { ok: false, reason: 'invalid_params', detail: 'offchain_poi is needed: the balances of this state cannot be read from offchain_tx alone' };
  }
  const read = readPoi(poi, channel.initiator, channel.responder);
  if (!read.ok) return { ok: false, reason: 'invalid_params', detail: `offchain_poi: ${read.why}` };
  if (read.stateHash !== stateHash) return { ok: false, reason: 'bad_state_hash', detail: 'offchain_poi does not prove the state of offchain_tx' };
  if (!read.balances) return { ok: false, reason: 'invalid_params', detail: 'offchain_poi: wrong_channel_peers' };
  const { initiator, responder } = read.balances;
  if (initiator + responder !== channel.channelAmount) {
    return { ok: false, reason: 'invalid_params', detail: 'the balances in offchain_poi do not add up to the channel\'s amount on chain' };
  }
  return read.balances;
}
