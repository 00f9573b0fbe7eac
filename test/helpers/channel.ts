/**
 * Opens a channel through the running service with two real clients, each holding only its own key.
 */
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { TestClient, type Protocol } from './client.js';
import type { TestService } from './service.js';

let nextPort = 20_000 + Math.floor(Math.random() * 20_000);

export interface OpenedChannel {
  initiator: TestClient;
  responder: TestClient;
  initiatorAccount: AccountMemory;
  responderAccount: AccountMemory;
  channelId: string;
  port: number;
  query: Record<string, string | number | bigint>;
  /** fsm ids from fsm_up, for reestablishing */
  fsmIds: { initiator: string; responder: string };
}

export interface OpenOptions {
  initiatorAmount?: bigint;
  responderAmount?: bigint;
  pushAmount?: bigint;
  channelReserve?: bigint;
  extra?: Record<string, string | number>;
}

export function channelQuery(initiator: AccountMemory, responder: AccountMemory, port: number, o: OpenOptions = {}) {
  return {
    initiator_id: initiator.address,
    responder_id: responder.address,
    initiator_amount: o.initiatorAmount ?? 10n ** 21n,
    responder_amount: o.responderAmount ?? 10n ** 21n,
    push_amount: o.pushAmount ?? 0n,
    channel_reserve: o.channelReserve ?? 10n ** 18n,
    lock_period: 10,
    port,
    minimum_depth: 0,
    minimum_depth_strategy: 'plain',
    ...o.extra,
  };
}

export async function openChannel(service: TestService, protocol: Protocol, options: OpenOptions = {}): Promise<OpenedChannel> {
  const [initiatorAccount, responderAccount] = await service.fundedAccounts(2);
  const port = nextPort++;
  const query = channelQuery(initiatorAccount!, responderAccount!, port, options);
  // the initiator comes first, as the aepp-sdk's tests connect them
  const initiator = await TestClient.connect(service.channelUrl, { ...query, role: 'initiator', host: 'localhost' }, protocol, initiatorAccount!);
  const responder = await TestClient.connect(service.channelUrl, { ...query, role: 'responder' }, protocol, responderAccount!);
  const [iUp, rUp] = await Promise.all([initiator.nextMethod('channels.info', 'fsm_up'), responder.nextMethod('channels.info', 'fsm_up')]);
  const [iOpen] = await Promise.all([initiator.nextMethod('channels.info', 'open'), responder.nextMethod('channels.info', 'open')]);
  await Promise.all([initiator.nextMethod('channels.update'), responder.nextMethod('channels.update')]);
  const channelId = protocol === 'json-rpc' ? iOpen.frame.params.channel_id : iOpen.frame.channel_id;
  return {
    initiator, responder, initiatorAccount: initiatorAccount!, responderAccount: responderAccount!, channelId, port, query,
    fsmIds: { initiator: iUp.data.fsm_id, responder: rUp.data.fsm_id },
  };
}

/** A proof of inclusion of both participants' accounts in the channel's latest state, as the client asks for it. */
export async function poiNow(client: TestClient, ch: OpenedChannel): Promise<string> {
  client.send('channels.get.poi', { accounts: [ch.initiatorAccount.address, ch.responderAccount.address] }, 1);
  const reply = await client.next((m) => m.method === 'result' || m.method === 'channels.get.poi');
  return reply.data.poi;
}
