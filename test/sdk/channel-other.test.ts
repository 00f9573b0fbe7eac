/**
 * More of what real wallets do with the unmodified aepp-sdk against the service (`npm start`): solo
 * close and settle posted with `AeSdk` over the node HTTP API, a dispute by slash, reconnecting
 * without leave, and a backchannel update co-signed while the peer's client is away.
 */
import t from 'tap';
import { AccountMemory, AeSdk, Channel, Tag, buildTx, unpackTx } from '../../lib/sdk.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/process-service.js';
import { fundFromGenesis, genesisSdk } from '../helpers/service.js';
import { NETWORK_ID } from '../helpers/accounts.js';

type Tx = `tx_${string}`;
type Options = Parameters<typeof Channel.initialize>[0];
type Poi = Parameters<AeSdk['buildTx']>[0] extends infer P ? P : never;

let service: ServiceProcess;
let aeSdk: AeSdk;
let initiator: AccountMemory;
let responder: AccountMemory;
let initiatorCh: Channel;
let responderCh: Channel;
let shared: Record<string, unknown>;

const initiatorSign = async (tx: Tx) => initiator.signTransaction(tx, { networkId: NETWORK_ID });
const responderSign = async (tx: Tx) => responder.signTransaction(tx, { networkId: NETWORK_ID });

function reaches(channel: Channel, status: string): Promise<void> {
  return new Promise((resolve) => {
    if (channel.status() === status) resolve();
    channel.on('statusChanged', (s) => { if (s === status) resolve(); });
  });
}

const balanceOf = async (account: string) => BigInt(await aeSdk.getBalance(account as `ak_${string}`));
const feeOf = (tx: string) => BigInt((unpackTx(tx as Tx) as unknown as { fee: string }).fee);

/** Builds a channel tx with the aepp-sdk and posts it signed by `onAccount`, as a wallet would; the tx, for its fee. */
async function post(fields: Record<string, unknown>, onAccount: AccountMemory): Promise<Tx> {
  const tx = await aeSdk.buildTx(fields as unknown as Poi);
  await aeSdk.sendTransaction(tx, { onAccount });
  return tx;
}

t.before(async () => {
  service = await startServiceProcess();
  aeSdk = genesisSdk(service.nodeUrl);
});
t.teardown(() => service.stop());

t.beforeEach(async () => {
  [initiator, responder] = await fundFromGenesis(aeSdk, 2, 3n * 10n ** 15n) as [AccountMemory, AccountMemory];
  shared = {
    url: service.channelUrl, pushAmount: 1e13, initiatorAmount: 5e14, responderAmount: 5e14, channelReserve: 0, port: 3114,
    lockPeriod: 1, initiatorId: initiator.address, responderId: responder.address, minimumDepth: 0, minimumDepthStrategy: 'plain',
  };
  initiatorCh = await Channel.initialize({ ...shared, role: 'initiator', host: 'localhost', sign: (_t: string, tx: Tx) => initiatorSign(tx) } as unknown as Options);
  responderCh = await Channel.initialize({ ...shared, role: 'responder', sign: (_t: string, tx: Tx) => responderSign(tx) } as unknown as Options);
  await Promise.all([reaches(initiatorCh, 'open'), reaches(responderCh, 'open')]);
});
t.afterEach(() => {
  initiatorCh.disconnect();
  responderCh.disconnect();
});

t.test('can solo close a channel', async (t) => {
  const { signedTx } = await initiatorCh.update(initiator.address, responder.address, 1e14, initiatorSign);
  const poi = await initiatorCh.poi({ accounts: [initiator.address, responder.address] });
  const balances = await initiatorCh.balances([initiator.address, responder.address]);
  const [iBefore, rBefore] = [await balanceOf(initiator.address), await balanceOf(responder.address)];
  const closeSolo = await post({
    tag: Tag.ChannelCloseSoloTx, channelId: initiatorCh.id(), fromId: initiator.address, poi, payload: signedTx!,
  }, initiator);
  const settle = await post({
    tag: Tag.ChannelSettleTx, channelId: initiatorCh.id(), fromId: initiator.address,
    initiatorAmountFinal: balances[initiator.address]!, responderAmountFinal: balances[responder.address]!,
  }, initiator);
  t.equal(await balanceOf(initiator.address) - iBefore + feeOf(closeSolo) + feeOf(settle), BigInt(balances[initiator.address]!));
  t.equal(await balanceOf(responder.address) - rBefore, BigInt(balances[responder.address]!));
});

t.test('can dispute via slash tx', async (t) => {
  const [iBefore, rBefore] = [await balanceOf(initiator.address), await balanceOf(responder.address)];
  const oldUpdate = await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign);
  const oldPoi = await initiatorCh.poi({ accounts: [initiator.address, responder.address] });
  const recentUpdate = await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign);
  const recentPoi = await responderCh.poi({ accounts: [initiator.address, responder.address] });
  const recent = await responderCh.balances([initiator.address, responder.address]);
  const closeSolo = await post({
    tag: Tag.ChannelCloseSoloTx, channelId: initiatorCh.id(), fromId: initiator.address, poi: oldPoi, payload: oldUpdate.signedTx!,
  }, initiator);
  const slash = await post({
    tag: Tag.ChannelSlashTx, channelId: responderCh.id(), fromId: responder.address, poi: recentPoi, payload: recentUpdate.signedTx!,
  }, responder);
  const settle = await post({
    tag: Tag.ChannelSettleTx, channelId: responderCh.id(), fromId: responder.address,
    initiatorAmountFinal: recent[initiator.address]!, responderAmountFinal: recent[responder.address]!,
  }, responder);
  t.equal(await balanceOf(initiator.address) - iBefore + feeOf(closeSolo), BigInt(recent[initiator.address]!));
  t.equal(await balanceOf(responder.address) - rBefore + feeOf(slash) + feeOf(settle), BigInt(recent[responder.address]!));
});

t.test('can reconnect a channel without leave', async (t) => {
  t.equal(initiatorCh.round(), 1);
  await initiatorCh.update(initiator.address, responder.address, 100, initiatorSign);
  t.equal(initiatorCh.round(), 2);
  const channelId = initiatorCh.id();
  const fsmId = initiatorCh.fsmId();
  initiatorCh.disconnect();
  await reaches(initiatorCh, 'disconnected');
  const ch = await Channel.initialize({
    ...shared, role: 'initiator', host: 'localhost', sign: (_t: string, tx: Tx) => initiatorSign(tx), existingChannelId: channelId, existingFsmId: fsmId,
  } as unknown as Options);
  await reaches(ch, 'open');
  t.equal(ch.fsmId(), fsmId, 'the same FSM, the same id');
  t.equal(ch.round(), 2);
  const state = await ch.state();
  t.equal((state.signedTx as unknown as { encodedTx: { tag: Tag } }).encodedTx.tag, Tag.ChannelOffChainTx);
  await ch.update(initiator.address, responder.address, 100, initiatorSign);
  t.equal(ch.round(), 3);
  ch.disconnect();
});

t.test('can post backchannel update', async (t) => {
  t.equal(responderCh.round(), 1);
  initiatorCh.disconnect();
  const refused = await responderCh.update(initiator.address, responder.address, 100, responderSign);
  t.equal(refused.accepted, false, 'the initiator\'s client is away and nobody co-signs');
  t.equal(responderCh.round(), 1);
  // the responder's wallet gets the initiator's signature over a backchannel
  const { accepted } = await responderCh.update(initiator.address, responder.address, 100, async (tx) => {
    const withResponder = unpackTx(await responderSign(tx), Tag.SignedTx) as unknown as { signatures: Uint8Array[] };
    const withInitiator = unpackTx(await initiatorSign(tx), Tag.SignedTx) as unknown as { signatures: Uint8Array[] };
    return buildTx({ tag: Tag.SignedTx, signatures: [...withResponder.signatures, ...withInitiator.signatures].map((s) => Buffer.from(s)), encodedTx: tx });
  });
  t.equal(accepted, true);
  t.equal(responderCh.round(), 2);
});
