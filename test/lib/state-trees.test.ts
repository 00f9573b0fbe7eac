/**
 * The state hash, channel id and proof of inclusion against the Aeternity node's own transcript
 * (aeternity/protocol node/api/examples/channels/json-rpc/sc_ws_basic_open_close.md): the create tx
 * the node co-signed there, and the state hash of its round 2 after a transfer of 1 aetto.
 */
import t from 'tap';
import { decode as rlpDecode } from 'rlp';
import { decode, encode, Encoding, EntryTag, unpackEntry } from '../../lib/sdk.js';
import { channelId, channelStateHash, channelTrie } from '../../lib/tx/channel-kit.js';
import { proofOfInclusion, stateTreesEntry } from '../../lib/tx/state-trees.js';
import type { ChannelParams } from '../../fsm/types.js';

const NODE_CREATE_TX = 'tx_+QENCwH4hLhAFnxtn+yejpUApbsfNND+fIrAaUrAmZMTdxOTmGEwF4npoHvG5vmhJHRohpKDXf+nm1EDzKtNCarz57FdSoOuAbhAr0pHgif1xezYZbr3n/7F9jzWbUBTy6qbU2K1YiSU1Y+qnMUmcGbRYieWsNPbt3kONBG+OrvisSXsTHbUD7SoCLiD+IEyAaEBZK4OCGLe00s6e+4hWbkUhsL0iSh2Tb8TgIqJqYuVr4GGP6olImAAoQGQsy4wyp2ngByD9p0uw1DZWKZADIqFC92lFO6uDCpwoYYkYTnKgAACCgCGEAZ510gAwKBk/wgc02xPFpin8ZqQbLoxNebwyc6eA+R5uowuCfW4RgN3M95P';
const NODE_CHANNEL_ID = 'ch_2jqr9vjPiaNk2H4iE3pV9FCayL1BbyT4nDk4WHd6HTE16ZswWu';
const NODE_ROUND_2_STATE_HASH = 'st_pmJq1CPFri4Tx6sjPeMkKVJP5uTXrnGSB3mrLt0HQsodl+Ud';

// the node's v1 create tx: [50, 1, initiator, i_amount, responder, r_amount, reserve, lock, ttl, fee, delegates, state_hash, nonce]
const inner = rlpDecode(rlpDecode(decode(NODE_CREATE_TX as any))[3] as Uint8Array) as Uint8Array[];
const initiator = encode(Buffer.from(inner[2]!).subarray(1), Encoding.AccountAddress);
const responder = encode(Buffer.from(inner[4]!).subarray(1), Encoding.AccountAddress);
const nonce = Number(BigInt(`0x${Buffer.from(inner[12]!).toString('hex')}`));
const params = { initiatorId: initiator, responderId: responder } as ChannelParams;
// the transcript opened with a push of 1: 70000000000000 - 1 and 40000000000000 + 1
const opening = { initiator: 69999999999999n, responder: 40000000000001n };

t.test('channel id as the node derives it', async (t) => {
  t.equal(channelId(initiator, nonce, responder), NODE_CHANNEL_ID);
});

t.test('state hash of the opening state and of round 2 match the node', async (t) => {
  t.equal(channelStateHash(params, opening), encode(Buffer.from(inner[11]!), Encoding.State));
  t.equal(channelStateHash(params, { initiator: opening.initiator - 1n, responder: opening.responder + 1n }), NODE_ROUND_2_STATE_HASH);
});

t.test('the proof of inclusion decodes in the aepp-sdk and its root is the state\'s accounts root', async (t) => {
  const trie = channelTrie(params, opening)!;
  const poi = proofOfInclusion(trie, [decode(initiator), decode(responder)]);
  const unpacked = unpackEntry(poi, EntryTag.TreesPoi) as any;
  const accounts = unpacked.accounts[0];
  t.ok(accounts.isComplete, 'every node on the paths is there');
  t.equal(accounts.get(initiator).balance, opening.initiator.toString());
  t.equal(accounts.get(responder).balance, opening.responder.toString());
  t.same(accounts.serialize()[0], trie.root, 'same root hash');
  const partial = unpackEntry(proofOfInclusion(trie, [decode(initiator)]), EntryTag.TreesPoi) as any;
  t.equal(partial.accounts[0].get(initiator).balance, opening.initiator.toString(), 'a proof for one account');
});

t.test('the state trees decode in the aepp-sdk', async (t) => {
  const trees = unpackEntry(stateTreesEntry([[decode(initiator), 5n], [decode(responder), 10n ** 21n]])) as any;
  t.equal(trees.accounts[responder].balance, (10n ** 21n).toString());
});
