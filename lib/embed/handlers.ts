/**
 * What an in-process participant does with each frame from its session, step for step as the
 * aepp-sdk's `Channel` does (es/channel/handlers.js in @aeternity/aepp-sdk 14): the same statuses,
 * events, sign requests and results, because the frames are the same. Each handler takes the frame
 * and the pending operation and names the next handler; the channel (channel.ts) does the I/O.
 */
import {
  ChannelConnectionError, ChannelError, IllegalArgumentError, InsufficientBalanceError, Tag,
  UnexpectedChannelMessageError, buildTx, decode, unpackTx, type Encoded,
} from '../sdk.js';
import type { IncomingMessage } from './frames.js';

export type ChannelStatus = 'connecting' | 'connected' | 'accepted' | 'halfSigned' | 'signed' | 'open' | 'closing' | 'closed' | 'died' | 'disconnected';

/** Signs a tx of an operation this participant started; a number (an error code) or null declines. */
export type SignTx = (tx: Encoded.Transaction, options?: { updates?: unknown[]; [key: string]: unknown }) => Promise<Encoded.Transaction | number | null>;
/** Signs what the channel asks for by its tag (`initiator_sign`, `update_ack`, …), as the SDK's `sign` option. */
export type SignTxWithTag = (tag: string, tx: Encoded.Transaction, options?: { updates?: unknown[]; [key: string]: unknown }) => Promise<Encoded.Transaction | number | null>;

/** An operation under way: how it ends, and the callbacks it was given. */
export interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  sign?: SignTx;
  onOnChainTx?: (tx: Encoded.Transaction) => void;
  onOwnWithdrawLocked?: () => void;
  onWithdrawLocked?: () => void;
  onOwnDepositLocked?: () => void;
  onDepositLocked?: () => void;
  closeTx?: string;
}

export type Handler = (message: IncomingMessage, state: Pending | undefined) => Next | undefined | Promise<Next | undefined>;
export interface Next {
  handler: Handler;
  state?: Pending | undefined;
}

/** What the handlers need of the channel. */
export interface ChannelCore {
  readonly role: 'initiator' | 'responder';
  readonly signWithTag: SignTxWithTag;
  changeStatus(status: ChannelStatus): void;
  changeState(state: Encoded.Transaction | ''): void;
  emit(event: string, ...args: unknown[]): void;
  notify(method: string, params?: Record<string, unknown>): void;
  setFsmId(fsmId: string): void;
  setChannelId(channelId: string): void;
  offchainSignedTx(): Promise<string | null>;
  disconnect(): void;
}

/** A SignedTx unpacked (the SDK's published types leave its fields out of the union). */
interface SignedTx {
  signatures: Uint8Array[];
  encodedTx: Parameters<typeof buildTx>[0];
}

const info = (message: IncomingMessage): string | undefined => (message.method === 'channels.info' ? message.params?.data?.event : undefined);

/** Adds this participant's signature to a co-signed tx; a decline (a number or null) comes back as it is. */
async function appendSignature(tx: Encoded.Transaction, sign: (tx: Encoded.Transaction) => Promise<Encoded.Transaction | number | null>) {
  const { signatures, encodedTx } = unpackTx(tx, Tag.SignedTx) as unknown as SignedTx;
  const payloadTx = buildTx(encodedTx);
  const result = await sign(payloadTx);
  if (typeof result !== 'string') return result;
  const { signatures: added } = unpackTx(result, Tag.SignedTx) as unknown as SignedTx;
  return buildTx({ tag: Tag.SignedTx, signatures: signatures.concat(added), encodedTx: decode(payloadTx) });
}

/** Signs what a sign request carries and answers on `method`; whether it declined. */
export async function signAndNotify(ch: ChannelCore, method: string, data: { tx?: Encoded.Transaction; signed_tx?: Encoded.Transaction }, sign: (tx: Encoded.Transaction) => Promise<Encoded.Transaction | number | null>): Promise<boolean> {
  let signed: Encoded.Transaction | number | null;
  if (data.tx != null) signed = await sign(data.tx);
  else if (data.signed_tx != null) signed = await appendSignature(data.signed_tx, sign);
  else throw new ChannelError("Can't find transaction in message");
  const declined = typeof signed !== 'string';
  const key = data.tx != null ? 'tx' : 'signed_tx';
  ch.notify(method, declined ? { error: signed ?? 1 } : { [key]: signed });
  return declined;
}

export function handlers(ch: ChannelCore) {
  function handleUnexpectedMessage(message: IncomingMessage, state: Pending | undefined): Next {
    state?.reject(Object.assign(new UnexpectedChannelMessageError(`Unexpected message received:\n\n${JSON.stringify(message)}`), { wsMessage: message }));
    return { handler: channelOpen };
  }

  /** The end of an operation the peer was asked to co-sign: accepted, conflict, aborted, or refused. */
  function awaitingCompletion(message: IncomingMessage, state: Pending, onSuccess?: () => Next): Next {
    if (onSuccess && message.method === 'channels.update') return onSuccess();
    if (message.method === 'channels.conflict') {
      state.resolve({ accepted: false, errorCode: message.params.data.error_code, errorMessage: message.params.data.error_msg });
      return { handler: channelOpen };
    }
    if (info(message) === 'aborted_update') {
      state.resolve({ accepted: false });
      return { handler: channelOpen };
    }
    if (message.error != null) {
      const codes = message.error.data.map((d) => d.code);
      if (codes.includes(1001)) state.reject(new InsufficientBalanceError('Insufficient balance'));
      else if (codes.includes(1002)) state.reject(new IllegalArgumentError('Amount cannot be negative'));
      else state.reject(new ChannelConnectionError(message.error.message));
      return { handler: channelOpen };
    }
    return handleUnexpectedMessage(message, state);
  }

  function awaitingConnection(message: IncomingMessage): Next | undefined {
    if (message.method === 'channels.info') {
      const event = info(message);
      const next = event === 'channel_accept' ? 'accepted' : event === 'funding_created' ? 'halfSigned' : null;
      if (next) {
        ch.changeStatus(next);
        return { handler: awaitingChannelCreateTx };
      }
      if (event === 'channel_reestablished') return { handler: awaitingOpenConfirmation };
      if (event === 'fsm_up') ch.setFsmId(message.params.data.fsm_id);
      return { handler: awaitingConnection };
    }
    if (message.method === 'channels.error') {
      // the SDK reads `payload` here, which a JSON-RPC frame does not have; the message is in data
      ch.emit('error', new ChannelConnectionError(message.params?.data?.message));
      return { handler: channelClosed };
    }
    return undefined;
  }

  function awaitingReestablish(message: IncomingMessage, state: Pending | undefined): Next {
    if (info(message) === 'fsm_up') {
      ch.setFsmId(message.params.data.fsm_id);
      return {
        handler: function awaitingChannelReestablished(message2, state2) {
          if (info(message2) === 'channel_reestablished') return { handler: awaitingOpenConfirmation };
          return handleUnexpectedMessage(message2, state2);
        },
      };
    }
    return handleUnexpectedMessage(message, state);
  }

  async function awaitingReconnection(message: IncomingMessage, state: Pending | undefined): Promise<Next> {
    if (info(message) === 'fsm_up') {
      ch.setFsmId(message.params.data.fsm_id);
      const signedTx = await ch.offchainSignedTx();
      ch.changeState((signedTx ?? '') as Encoded.Transaction | '');
      return { handler: channelOpen };
    }
    return handleUnexpectedMessage(message, state);
  }

  async function awaitingChannelCreateTx(message: IncomingMessage): Promise<Next | undefined> {
    const tag = ch.role === 'initiator' ? 'initiator_sign' : 'responder_sign';
    if (message.method !== `channels.sign.${tag}`) return undefined;
    await signAndNotify(ch, `channels.${tag}`, message.params.data, (tx) => ch.signWithTag(tag, tx));
    return { handler: awaitingOnChainTx };
  }

  function awaitingOnChainTx(message: IncomingMessage): Next | undefined {
    function awaitingBlockInclusion(message2: IncomingMessage): Next | undefined {
      switch (info(message2)) {
        case 'funding_created':
        case 'own_funding_locked':
          return { handler: awaitingBlockInclusion };
        case 'funding_locked':
          return { handler: awaitingOpenConfirmation };
      }
      if (message2.method === 'channels.on_chain_tx') {
        ch.emit('onChainTx', message2.params.data.tx, { info: message2.params.data.info, type: message2.params.data.type });
        return { handler: awaitingBlockInclusion };
      }
      return undefined;
    }
    if (message.method === 'channels.on_chain_tx') {
      const what = message.params.data.info;
      if ((what === 'funding_signed' && ch.role === 'initiator') || (what === 'funding_created' && ch.role === 'responder')) {
        return { handler: awaitingBlockInclusion };
      }
    }
    if (info(message) === 'funding_signed' && ch.role === 'initiator') {
      ch.setChannelId(message.params.channel_id);
      ch.changeStatus('signed');
      return { handler: awaitingOnChainTx };
    }
    return undefined;
  }

  function awaitingOpenConfirmation(message: IncomingMessage, state: Pending | undefined): Next {
    if (info(message) === 'open') {
      ch.setChannelId(message.params.channel_id);
      return {
        handler: function awaitingChannelsUpdate(message2, state2) {
          if (message2.method === 'channels.update') {
            ch.changeState(message2.params.data.state);
            return { handler: channelOpen };
          }
          return handleUnexpectedMessage(message2, state2);
        },
      };
    }
    return handleUnexpectedMessage(message, state);
  }

  async function awaitingTxSignRequest(message: IncomingMessage, state: Pending | undefined): Promise<Next> {
    const tag = message.method?.match(/^channels\.sign\.([^.]+)$/)?.[1];
    if (tag == null) return handleUnexpectedMessage(message, state);
    const declined = await signAndNotify(ch, `channels.${tag}`, message.params.data, (tx) => ch.signWithTag(tag, tx, { updates: message.params.data.updates }));
    function awaitingUpdateConflict(message2: IncomingMessage): Next {
      if (message2.error != null) return { handler: awaitingUpdateConflict, state };
      if (message2.method === 'channels.conflict') return { handler: channelOpen };
      return handleUnexpectedMessage(message2, state);
    }
    return declined ? { handler: awaitingUpdateConflict, state } : { handler: channelOpen };
  }

  async function channelOpen(message: IncomingMessage, state: Pending | undefined): Promise<Next | undefined> {
    switch (message.method) {
      case 'channels.info':
        switch (info(message)) {
          case 'update':
          case 'withdraw_created':
          case 'deposit_created':
            return { handler: awaitingTxSignRequest };
          case 'own_withdraw_locked':
          case 'withdraw_locked':
          case 'own_deposit_locked':
          case 'deposit_locked':
          case 'peer_disconnected':
          case 'channel_reestablished':
          case 'open':
            ch.emit(snakeToPascal(info(message)!));
            return { handler: channelOpen };
          case 'fsm_up':
            ch.setFsmId(message.params.data.fsm_id);
            return { handler: channelOpen };
          case 'timeout':
          case 'close_mutual':
          case 'shutdown':
            return { handler: channelOpen };
          case 'closing':
            ch.changeStatus('closing');
            return { handler: channelOpen };
          case 'closed_confirmed':
            ch.changeStatus('closed');
            return { handler: channelClosed };
          case 'died':
            ch.changeStatus('died');
            return { handler: channelClosed };
        }
        break;
      case 'channels.on_chain_tx':
        ch.emit('onChainTx', message.params.data.tx, { info: message.params.data.info, type: message.params.data.type });
        return { handler: channelOpen };
      case 'channels.leave':
        return { handler: channelOpen };
      case 'channels.update':
        ch.changeState(message.params.data.state);
        return { handler: channelOpen };
      case 'channels.sign.shutdown_sign_ack':
        return awaitingTxSignRequest(message, state);
    }
    return undefined;
  }

  function channelClosed(message: IncomingMessage, state: Pending | undefined): Next {
    if (state == null) return { handler: channelClosed };
    const data = message.params?.data ?? {};
    if (data.event === 'closing') return { handler: channelClosed, state };
    if (data.info === 'channel_closed') {
      state.closeTx = data.tx;
      return { handler: channelClosed, state };
    }
    if (data.event === 'closed_confirmed') {
      state.resolve(state.closeTx);
      return { handler: channelClosed };
    }
    return { handler: channelClosed, state };
  }

  async function awaitingShutdownTx(message: IncomingMessage, state: Pending | undefined): Promise<Next> {
    if (message.method !== 'channels.sign.shutdown_sign') return handleUnexpectedMessage(message, state);
    await signAndNotify(ch, 'channels.shutdown_sign', message.params.data, (tx) => state!.sign!(tx));
    return {
      handler(message2) {
        if (message2.method !== 'channels.on_chain_tx') return handleUnexpectedMessage(message2, state);
        return { handler: channelClosed, state };
      },
      state,
    };
  }

  function awaitingLeave(message: IncomingMessage, state: Pending | undefined): Next {
    if (message.method === 'channels.leave') {
      state?.resolve({ channelId: message.params.channel_id, signedTx: message.params.data.state });
      ch.disconnect();
      return { handler: channelClosed };
    }
    if (message.method === 'channels.error') {
      state?.reject(new ChannelConnectionError(message.params?.data?.message));
      return { handler: channelOpen };
    }
    return handleUnexpectedMessage(message, state);
  }

  /** The transfer this participant proposed: sign it, then wait for the peer's answer. */
  function awaitingOffChainTx(sign: SignTx): Handler {
    const awaiting: Handler = async (message, state) => {
      if (message.method === 'channels.sign.update') {
        const declined = await signAndNotify(ch, 'channels.update', message.params.data, (tx) => sign(tx, { updates: message.params.data.updates }));
        if (declined) return { handler: awaiting, state };
        return {
          handler: (message2) => awaitingCompletion(message2, state!, () => {
            ch.changeState(message2.params.data.state);
            state!.resolve({ accepted: true, signedTx: message2.params.data.state });
            return { handler: channelOpen };
          }),
          state,
        };
      }
      if (message.method === 'channels.error') {
        state!.reject(new ChannelConnectionError(message.params?.data?.message));
        return { handler: channelOpen };
      }
      return awaitingCompletion(message, state!);
    };
    return awaiting;
  }

  /** A deposit or withdrawal this participant proposed: sign it, follow it on chain, wait for the update. */
  function awaitingActionTx(action: 'deposit' | 'withdraw'): Handler {
    return async (message, state) => {
      if (message.method !== `channels.sign.${action}_tx`) return handleUnexpectedMessage(message, state);
      const pending = state!;
      const awaitingActionCompletion: Handler = (message2) => {
        if (message2.method === 'channels.on_chain_tx') {
          pending.onOnChainTx?.(message2.params.data.tx);
          return { handler: awaitingActionCompletion, state: pending };
        }
        const event = info(message2);
        if (event === `own_${action}_locked` || event === `${action}_locked`) {
          const name = action === 'deposit' ? 'Deposit' : 'Withdraw';
          pending[`on${event.startsWith('own_') ? 'Own' : ''}${name}Locked` as 'onDepositLocked']?.();
          return { handler: awaitingActionCompletion, state: pending };
        }
        return awaitingCompletion(message2, pending, () => {
          ch.changeState(message2.params.data.state);
          pending.resolve({ accepted: true, signedTx: message2.params.data.state });
          return { handler: channelOpen };
        });
      };
      await signAndNotify(ch, `channels.${action}_tx`, message.params.data, (tx) => pending.sign!(tx, { updates: message.params.data.updates }));
      return { handler: awaitingActionCompletion, state: pending };
    };
  }

  return {
    awaitingConnection, awaitingReestablish, awaitingReconnection, channelOpen, channelClosed,
    awaitingShutdownTx, awaitingLeave, awaitingOffChainTx, awaitingActionTx,
  };
}

function snakeToPascal(name: string): string {
  return name.replace(/_./g, (m) => m[1]!.toUpperCase());
}

/** The round of a co-signed state, as the SDK's `round()` reads it. */
export function roundOf(state: Encoded.Transaction | ''): number | null {
  if (state === '') return null;
  const params = (unpackTx(state, Tag.SignedTx) as unknown as SignedTx).encodedTx as { tag: Tag; round?: number };
  switch (params.tag) {
    case Tag.ChannelCreateTx: return 1;
    case Tag.ChannelOffChainTx:
    case Tag.ChannelWithdrawTx:
    case Tag.ChannelDepositTx: return Number(params.round);
    default: return null;
  }
}
