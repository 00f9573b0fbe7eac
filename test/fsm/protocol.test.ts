/**
 * The pure protocol rules, table by table.
 */
import t from 'tap';
import { applyUpdates, closeMutualFinals, isRefusal, minimumDepth } from '../../fsm/protocol.js';
import type { ChannelParams } from '../../fsm/types.js';

const I = 'ak_mLjPFZQ6xB2FHGTVyfL4imAWbPrgYqcPcmxFoVhvzyU5BMrWw' as const;
const R = 'ak_26jA8T3BcpjBxJp3Rb3GQm8HDdqGnQg9LCFBhtkwWVr7AF5RFC' as const;
const X = 'ak_2EWaJ2fGaZSQ6PZb2fJEKddsgGLv7NMuwMMr9aTnv2Ern7J2Cq' as const;
const params = { initiatorId: I, responderId: R, channelReserve: 10n } as unknown as ChannelParams;
const start = { initiator: 100n, responder: 50n };

t.test('minimum depth: plain takes the factor, txfee derives it from the fee as the node does', async (t) => {
  const cases: Array<[Parameters<typeof minimumDepth>, number]> = [
    [['plain', 0, 10n ** 15n], 0],
    [['plain', 7, 1n], 7],
    [['txfee', 10, 2n * 10n ** 13n], 3], // the node's own example: ceil((2e4)^(1/10))
    [['txfee', 0, 2n * 10n ** 13n], 1],
    [['txfee', 1, 17_680n * 10n ** 9n], 17_680],
    [['txfee', 2, 10n ** 13n], 100],
  ];
  for (const [args, expected] of cases) t.equal(minimumDepth(...args), expected, JSON.stringify(args, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
});

t.test('mutual close: the fee comes out of the balances, half each, the initiator paying the odd aetto', async (t) => {
  const cases: Array<[bigint, bigint, bigint, [bigint, bigint] | string]> = [
    [100n, 50n, 11n, [94n, 45n]],
    [100n, 50n, 10n, [95n, 45n]],
    [3n, 100n, 11n, [0n, 92n]], // the initiator cannot pay its half: the rest falls to the responder
    [100n, 2n, 11n, [91n, 0n]],
    [5n, 6n, 11n, [0n, 0n]],
    [5n, 5n, 11n, 'insufficient_balance'],
  ];
  for (const [i, r, fee, expected] of cases) {
    const got = closeMutualFinals({ initiator: i, responder: r }, fee);
    if (typeof expected === 'string') t.equal(isRefusal(got) ? got.reason : 'paid', expected);
    else t.same(got, { initiator: expected[0], responder: expected[1] }, `${i}/${r} paying ${fee}`);
  }
});

t.test('updates: transfers, deposits and withdrawals respect participants and the reserve', async (t) => {
  const cases: Array<[Parameters<typeof applyUpdates>[2], [bigint, bigint] | string]> = [
    [[{ op: 'OffChainTransfer', from: I, to: R, amount: 90n }], [10n, 140n]],
    [[{ op: 'OffChainTransfer', from: I, to: R, amount: 91n }], 'insufficient_balance'],
    [[{ op: 'OffChainTransfer', from: I, to: X, amount: 1n }], 'invalid_pubkeys'],
    [[{ op: 'OffChainTransfer', from: I, to: I, amount: 1n }], 'invalid_pubkeys'],
    [[{ op: 'OffChainTransfer', from: I, to: R, amount: -1n }], 'negative_amount'],
    [[{ op: 'OffChainDeposit', from: R, amount: 5n }], [100n, 55n]],
    [[{ op: 'OffChainWithdrawal', to: R, amount: 40n }], [100n, 10n]],
    [[{ op: 'OffChainWithdrawal', to: R, amount: 41n }], 'insufficient_balance'],
    [[{ op: 'OffChainMeta', data: 'x' }], [100n, 50n]],
  ];
  for (const [updates, expected] of cases) {
    const got = applyUpdates(params, start, updates);
    if (typeof expected === 'string') t.equal(isRefusal(got) ? got.reason : 'applied', expected);
    else t.same(got, { balances: { initiator: expected[0], responder: expected[1] } });
  }
});
