/**
 * The JSON a transfer writes to its two clients (JSON-RPC: two sign requests, an info, two update
 * reports), written by two checkouts' `stringifyJson` in one process, taking turns in short slices,
 * so both see the same load: CPU µs per transfer's frames and after / before.
 *
 *   tsx test/bench/json-frames.ts BEFORE_DIR AFTER_DIR [ROUNDS]
 *
 * Amounts of 1 aetto (written as a number) and of 10^21 aettos (a bigint) are measured apart.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Encoding } from '../../lib/sdk.js';
import { encode } from '../../lib/tx/encoding.js';
import { jsonRpcCodec } from '../../lib/ws/codec.js';
import type { AccountId, ChannelId, ClientOutput, EncodedTx } from '../../fsm/types.js';
import { median } from './stats.js';

type Stringify = (value: unknown) => string;
const [before, after, rounds = '15'] = process.argv.slice(2);
if (!before || !after) throw new Error('usage: json-frames.ts BEFORE_DIR AFTER_DIR [ROUNDS]');
const load = async (dir: string) => ((await import(pathToFileURL(join(resolve(dir), 'lib/json.ts')).href)) as { stringifyJson: Stringify }).stringifyJson;
const writers = [await load(before), await load(after)];

const channel = encode(randomBytes(32), Encoding.Channel) as ChannelId;
const from = encode(randomBytes(32), Encoding.AccountAddress) as AccountId;
const to = encode(randomBytes(32), Encoding.AccountAddress) as AccountId;
const tx = encode(randomBytes(260), Encoding.Transaction) as EncodedTx;
const framesOf = (amount: bigint) => {
  const outputs: ClientOutput[] = [
    { kind: 'sign', tag: 'update', signedTx: tx, updates: [{ op: 'OffChainTransfer', from, to, amount }] },
    { kind: 'info', event: 'update' },
    { kind: 'sign', tag: 'update_ack', signedTx: tx, updates: [{ op: 'OffChainTransfer', from, to, amount }] },
    { kind: 'update', state: tx },
    { kind: 'update', state: tx },
  ];
  return outputs.map((o) => jsonRpcCodec.output(channel, o));
};

for (const [label, amount] of [['1 aetto', 1n], ['10^21 aettos', 10n ** 21n]] as const) {
  const frames = framesOf(amount);
  const texts = writers.map((w) => frames.map((f) => w(f)));
  if (texts[0]!.join() !== texts[1]!.join()) throw new Error('the two write different text');
  const SLICE = 200;
  const us: number[][] = [[], []];
  for (let round = 0; round < Number(rounds) + 3; round++) {
    for (const k of round % 2 ? [1, 0] : [0, 1]) {
      const write = writers[k]!;
      const started = process.cpuUsage();
      for (let i = 0; i < SLICE; i++) for (const frame of frames) write(frame);
      const spent = process.cpuUsage(started);
      if (round >= 3) us[k]!.push((spent.user + spent.system) / SLICE);
    }
  }
  const [b, a] = us.map((u) => median(u)) as [number, number];
  console.log(`${label}: before ${b.toFixed(2)} µs, after ${a.toFixed(2)} µs of CPU per transfer's frames; after / before ${(a / b).toFixed(2)}`);
}
