/**
 * The channel read model for operators: the live FSMs grouped by channel (GET /channels), and one
 * channel with its last co-signed state and pending operations, from the FSMs or the store
 * (GET /channels/{id}). Never an fsm_id or its hash.
 */
import type { ChannelId, Role } from '../../fsm/types.js';
import type { Registry } from '../channel/registry.js';
import type { SessionView } from '../channel/session.js';
import type { ChannelStore } from '../store/store.js';

export const CHANNEL_ID = /^ch_[1-9A-HJ-NP-Za-km-z]{30,60}$/;

interface Side {
  state: string;
  connected: boolean;
  address: string | null;
}

export interface ChannelSummary {
  channel_id: string;
  initiator_id: string;
  responder_id: string;
  round: number | null;
  balances: { initiator: string; responder: string } | null;
  initiator: Side | null;
  responder: Side | null;
  last_activity: string;
}

export interface ChannelDetail extends ChannelSummary {
  /** the latest co-signed state: its round and its signed tx */
  last_cosigned: { round: number; signed_tx: string } | null;
  pending: {
    /** an off-chain operation under way in an FSM */
    offchain: { role: Role; kind: string; round: number; proposer: Role } | null;
    /** a co-signed deposit, withdraw or close on its way on chain (from the store) */
    onchain: { role: Role; kind: string; round: number } | null;
  };
  closed: boolean;
}

const side = (v: SessionView | undefined): Side | null => (v ? { state: v.state, connected: v.connected, address: v.address } : null);

function summarize(views: SessionView[]): ChannelSummary {
  const initiator = views.find((v) => v.role === 'initiator');
  const responder = views.find((v) => v.role === 'responder');
  // the side with the higher round is the one a round ahead while an update completes
  const latest = views.reduce((a, b) => ((b.round ?? -1) > (a.round ?? -1) ? b : a));
  return {
    channel_id: latest.channelId!,
    initiator_id: latest.initiatorId,
    responder_id: latest.responderId,
    round: latest.round,
    balances: latest.balances,
    initiator: side(initiator),
    responder: side(responder),
    last_activity: new Date(Math.max(...views.map((v) => v.lastActivity))).toISOString(),
  };
}

function liveViews(registry: Registry): Map<string, SessionView[]> {
  const byChannel = new Map<string, SessionView[]>();
  for (const session of registry.all()) {
    if (session.isStopped) continue;
    const view = session.view();
    if (!view.channelId) continue; // not a channel yet: still opening
    const list = byChannel.get(view.channelId);
    if (list) list.push(view);
    else byChannel.set(view.channelId, [view]);
  }
  return byChannel;
}

export function listChannels(registry: Registry, offset: number, limit: number): { total: number; offset: number; limit: number; channels: ChannelSummary[] } {
  const byChannel = liveViews(registry);
  const ids = [...byChannel.keys()].sort();
  return { total: ids.length, offset, limit, channels: ids.slice(offset, offset + limit).map((id) => summarize(byChannel.get(id)!)) };
}

export async function channelDetail(registry: Registry, store: ChannelStore, id: ChannelId): Promise<ChannelDetail | null> {
  const views = liveViews(registry).get(id) ?? [];
  const [initiator, responder] = await Promise.all([store.load(id, 'initiator'), store.load(id, 'responder')]);
  const stored = [initiator, responder].filter((s) => s !== null);
  if (views.length === 0 && stored.length === 0) return null;
  let summary: ChannelSummary;
  if (views.length) summary = summarize(views);
  else {
    const newest = stored.reduce((a, b) => (b.state.round > a.state.round ? b : a));
    summary = {
      channel_id: id, initiator_id: newest.params.initiatorId, responder_id: newest.params.responderId, round: newest.state.round,
      balances: { initiator: newest.state.balances.initiator.toString(), responder: newest.state.balances.responder.toString() },
      initiator: null, responder: null, last_activity: new Date(0).toISOString(),
    };
  }
  const cosigned = [
    ...views.filter((v) => v.round !== null && v.signedTx).map((v) => ({ round: v.round!, signed_tx: v.signedTx! })),
    ...stored.map((s) => ({ round: s.state.round, signed_tx: s.state.signedTx })),
  ];
  const live = views.find((v) => v.pending);
  const onchain = stored.find((s) => s.onchain);
  return {
    ...summary,
    last_cosigned: cosigned.length ? cosigned.reduce((a, b) => (b.round > a.round ? b : a)) : null,
    pending: {
      offchain: live?.pending ? { role: live.role, ...live.pending } : null,
      onchain: onchain?.onchain ? { role: onchain.role, kind: onchain.onchain.kind, round: onchain.onchain.state.round } : null,
    },
    closed: stored.length > 0 && stored.every((s) => s.closed),
  };
}
