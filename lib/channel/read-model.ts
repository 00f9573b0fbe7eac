/**
 * The client's questions about its channel (channels.get.balances, .offchain_state, .poi), answered
 * from the FSM's context: the latest co-signed state is the whole truth, and asking changes nothing.
 */
import { decode } from '../sdk.js';
import type { ChannelContext } from '../../fsm/channel-machine.js';
import type { Reason } from '../../fsm/reasons.js';
import type { AccountId } from '../../fsm/types.js';
import { amountToJson } from '../amounts.js';
import { channelTrie } from '../tx/channel-kit.js';
import { callsTreesEntry, proofOfInclusion, stateTreesEntry } from '../tx/state-trees.js';

export type StateQuery = 'balances' | 'offchain_state' | 'poi';

export type QueryAnswer = { result: unknown } | { reason: Reason; detail: string };

/** The answer to one query; `accounts` are the accounts asked about, already checked to be account ids. */
export function answerQuery(context: ChannelContext, query: StateQuery, accounts: string[]): QueryAnswer {
  const { params, state } = context;
  if (!state) return { reason: 'not_allowed_now', detail: 'the channel is not open yet' };
  const isParticipant = (account: string) => account === params.initiatorId || account === params.responderId;
  switch (query) {
    case 'balances': {
      const balanceOf = (account: string) => (account === params.initiatorId ? state.balances.initiator : state.balances.responder);
      return { result: accounts.filter(isParticipant).map((account) => ({ account, balance: amountToJson(balanceOf(account)) })) };
    }
    case 'offchain_state':
      return {
        result: {
          trees: stateTreesEntry([[decode(params.initiatorId), state.balances.initiator], [decode(params.responderId), state.balances.responder]]),
          calls: callsTreesEntry(),
          signed_tx: state.signedTx,
          half_signed_tx: context.pending?.signedTx ?? '',
        },
      };
    case 'poi':
      if (!accounts.every(isParticipant)) return { reason: 'not_found', detail: 'the proof covers the channel\'s participants only' };
      return { result: { poi: proofOfInclusion(channelTrie(params, state.balances), accounts.map((a) => decode(a as AccountId))) } };
  }
}
