/**
 * The message transcripts of docs/api.md, recorded from a real run: the service in this process on
 * an embedded store of its own, two clients per envelope with real ed25519 keys, every frame in and
 * out. What changes from run to run (keys, ids, fsm_ids, signatures, txs) is replaced by stable
 * placeholders, so the docs change only when the protocol does.
 *
 * `npm run docs:transcripts` rewrites the generated parts of docs/api.md (between the
 * `<!-- generated:NAME -->` markers); test/docs.test.ts regenerates them and fails if they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { hash, Tag, unpackTx, verifySignature, type AccountMemory } from '../lib/sdk.js';
import type { Reason } from '../fsm/reasons.js';
import { ERRORS, JSONRPC_CODE } from '../lib/errors.js';
import { parseJson, stringifyJson, type Json } from '../lib/json.js';
import { unpackSigned } from '../lib/tx/channel-kit.js';
import { decode } from '../lib/tx/encoding.js';
import { packagePath } from '../lib/package-root.js';
import { cosign, NETWORK_ID } from '../test/helpers/accounts.js';
import { startTestService, testConfig } from '../test/helpers/service.js';
import { testStorage } from '../test/helpers/storage.js';

export const DOCS_PATH = packagePath('docs', 'api.md');

type Protocol = 'json-rpc' | 'legacy';
type Role = 'initiator' | 'responder';

/** The channel every transcript opens: amounts beyond 2^53, as real ones are. */
const AE = 10n ** 18n;
const CHANNEL = {
  initiator_amount: 1000n * AE,
  responder_amount: 1000n * AE,
  push_amount: 0n,
  channel_reserve: AE,
  lock_period: 10,
  port: 3114,
  minimum_depth: 0,
  minimum_depth_strategy: 'plain',
};
/** What the initiator sends the responder in the update transcript. */
const TRANSFER = 2n * AE;

// --- normalisation ---

/** The node's names of the tx types a transcript shows. */
const TX_NAMES: Partial<Record<number, string>> = {
  [Tag.ChannelCreateTx]: 'channel_create_tx',
  [Tag.ChannelOffChainTx]: 'channel_offchain_tx',
  [Tag.ChannelDepositTx]: 'channel_deposit_tx',
  [Tag.ChannelWithdrawTx]: 'channel_withdraw_tx',
  [Tag.ChannelCloseMutualTx]: 'channel_close_mutual_tx',
  [Tag.ChannelCloseSoloTx]: 'channel_close_solo_tx',
  [Tag.ChannelSlashTx]: 'channel_slash_tx',
  [Tag.ChannelSettleTx]: 'channel_settle_tx',
  [Tag.ChannelSnapshotSoloTx]: 'channel_snapshot_solo_tx',
};

/**
 * Replaces what differs between runs by placeholders: account ids by role, the channel id, each
 * fsm_id by who got it (and a count, when a participant gets a new one), a tx by what it is (its
 * type, its round, who signed it), hashes and proofs by their kind.
 */
export class Normaliser {
  private readonly fsmIds = new Map<string, string>();
  private readonly fsmIdCount = new Map<Role, number>();

  constructor(private readonly accounts: Record<Role, AccountMemory>, private readonly channelId: () => string | null) {}

  /** Names a fresh fsm_id after the participant it was issued to. */
  fsmId(value: string, role: Role): string {
    let name = this.fsmIds.get(value);
    if (!name) {
      const n = (this.fsmIdCount.get(role) ?? 0) + 1;
      this.fsmIdCount.set(role, n);
      name = `<fsm_id:${role}${n > 1 ? ` ${n}` : ''}>`;
      this.fsmIds.set(value, name);
    }
    return name;
  }

  string(value: string): string {
    if (value.startsWith('tx_')) return this.tx(value);
    if (value.startsWith('th_')) return '<tx_hash>';
    if (value.startsWith('pi_')) return '<poi>';
    if (value.startsWith('ss_')) return '<state_trees>';
    if (value.startsWith('cs_')) return '<calls_trees>';
    if (value.startsWith('st_')) return '<state_hash>';
    // ids also appear inside texts (an error's message names the account)
    const names: Array<[string, string]> = [
      [this.accounts.initiator.address, '<initiator_id>'],
      [this.accounts.responder.address, '<responder_id>'],
      ...(this.channelId() ? [[this.channelId()!, '<channel_id>'] as [string, string]] : []),
      ...this.fsmIds,
    ];
    return names.reduce((text, [id, name]) => text.split(id).join(name), value);
  }

  /** `<tx:channel_offchain_tx round 2, signed by initiator>`: what a client needs to know of a tx. */
  tx(value: string): string {
    const signed = unpackSigned(value);
    if (!signed) return '<tx>';
    const inner = decode(signed.encodedTx);
    let fields: Record<string, unknown>;
    try {
      fields = unpackTx(signed.encodedTx) as unknown as Record<string, unknown>;
    } catch {
      return '<tx>';
    }
    const name = TX_NAMES[fields.tag as number] ?? `tx tag ${String(fields.tag)}`;
    const message = Buffer.concat([Buffer.from(NETWORK_ID), hash(inner)]);
    const signers = signed.signatures.map((signature) => {
      const role = (['initiator', 'responder'] as const).find((r) => verifySignature(message, signature, this.accounts[r].address));
      return role ?? 'someone else';
    }).sort(); // the service sorts signatures by their bytes, as the node does: their order says nothing
    const round = typeof fields.round === 'number' ? ` round ${fields.round}` : '';
    const by = signers.length ? `signed by ${signers.join(' and ')}` : 'no signatures yet';
    return `<tx:${name}${round}, ${by}>`;
  }

  json(value: Json): Json {
    if (typeof value === 'string') return this.string(value);
    if (Array.isArray(value)) return value.map((v) => this.json(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.json(v)]));
    return value;
  }
}

// --- recording ---

interface Line {
  /** '->' client to service, '<-' service to client, '--' the socket's end */
  dir: '->' | '<-' | '--';
  /** the frame as sent (normalised when rendered, once every id is known), or a note */
  frame: Json | string;
}

/** One client socket: signs what it is asked to, records every frame. */
class RecordedClient {
  readonly lines: Line[] = [];
  readonly frames: Json[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  /** signs sign requests as they come */
  autoSign = true;

  private constructor(private readonly ws: WebSocket, readonly protocol: Protocol, readonly role: Role, private readonly account: AccountMemory, private readonly norm: Normaliser) {
    ws.on('message', (data) => {
      const frame = parseJson(data.toString());
      const fsmId = fsmIdIn(frame);
      if (fsmId) norm.fsmId(fsmId, role);
      this.frames.push(frame);
      this.lines.push({ dir: '<-', frame });
      this.maybeSign(frame);
      this.wake();
    });
    ws.on('close', () => {
      this.closed = true;
      this.lines.push({ dir: '--', frame: 'the service closed the socket' });
      this.wake();
    });
  }

  static async connect(url: string, query: Record<string, string | number | bigint>, protocol: Protocol, role: Role, account: AccountMemory, norm: Normaliser) {
    const search = new URLSearchParams(Object.entries({ protocol, role, ...query }).map(([k, v]) => [k, String(v)]));
    const ws = new WebSocket(`${url}?${search}`);
    const client = new RecordedClient(ws, protocol, role, account, norm);
    await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return client;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private maybeSign(frame: any): void {
    if (!this.autoSign) return;
    const tag = this.protocol === 'json-rpc'
      ? /^channels\.sign\.(.+)$/.exec(frame.method ?? '')?.[1]
      : frame.action === 'sign' ? frame.tag : undefined;
    if (!tag) return;
    const tx = this.protocol === 'json-rpc' ? frame.params.data.signed_tx : frame.payload.signed_tx ?? frame.payload.tx;
    void cosign(this.account, tx).then((signed) => {
      if (this.protocol === 'json-rpc') this.send({ jsonrpc: '2.0', method: `channels.${tag}`, params: { signed_tx: signed } });
      else this.send({ action: tag, payload: { tx: signed } });
    });
  }

  send(frame: Record<string, unknown>): void {
    this.lines.push({ dir: '->', frame: frame as Json });
    this.ws.send(stringifyJson(frame));
  }

  /** Sends a request named by its JSON-RPC method, in this client's envelope. */
  request(method: string, params: Record<string, unknown> = {}, id?: number): void {
    if (this.protocol === 'json-rpc') {
      this.send({ jsonrpc: '2.0', method, params, ...(id !== undefined && { id }) });
      return;
    }
    const [action, ...tag] = method.replace(/^channels\./, '').split('.');
    // the legacy API writes a request without parameters as the action alone ({"action": "leave"})
    this.send({ action, ...(tag.length && { tag: tag.join('.') }), ...(Object.keys(params).length && { payload: params }) });
  }

  /** Resolves once a frame matching `match` has arrived (any time since the socket opened). */
  async seen(match: (frame: any) => boolean, what: string, timeoutMs = 15_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`${this.role}: socket closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.role}: timed out waiting for ${what}; got ${this.frames.slice(-5).map((f) => stringifyJson(f)).join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  /** Waits for the n-th frame (counting from `from`) of this kind: a JSON-RPC method, legacy action[.tag], an info event. */
  seenCount(kind: string, count: number, from = 0): Promise<unknown> {
    return this.seen(() => this.frames.slice(from).filter((f) => frameKind(f) === kind).length >= count, `${count} × ${kind}`);
  }

  async closedAndDone(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.ws.close();
  }

  /** The lines recorded since `from`, and a new mark. */
  take(from: number): Line[] {
    return this.lines.slice(from);
  }
}

function fsmIdIn(frame: any): string | undefined {
  const data = frame?.params?.data ?? frame?.payload;
  return data?.event === 'fsm_up' ? data.fsm_id : undefined;
}

/** A frame's kind in JSON-RPC terms, whichever envelope it came in: `channels.update`, `info:open`, `error`, `result`. */
function frameKind(frame: any): string {
  if (frame.error || frame.action === 'error') return 'error';
  if ('result' in frame) return 'result';
  const method: string = frame.method ?? `channels.${frame.action}${frame.tag ? `.${frame.tag}` : ''}`;
  const data = frame.params?.data ?? frame.payload;
  if (method === 'channels.info') return `info:${data.event}`;
  if (method === 'channels.on_chain_tx') return `on_chain_tx:${data.info}`;
  return method;
}

/** Waits until none of these clients has received a frame for `ms`. */
async function quiet(clients: RecordedClient[], ms = 400): Promise<void> {
  let seen = -1;
  for (;;) {
    const now = clients.reduce((n, c) => n + c.lines.length, 0);
    if (now === seen) return;
    seen = now;
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

// --- the scenarios ---

interface Part {
  /** who the frames are from, e.g. "initiator" or "initiator (new socket)" */
  who: string;
  /** what the client connected with, when this part starts with a connection */
  url?: string;
  lines: Line[];
  /** the lines as shown: frames normalised */
  shown?: string[];
}

interface Scenario {
  name: 'open' | 'update' | 'reestablish' | 'close';
  parts: Part[];
}

function urlOf(protocol: Protocol, query: Record<string, string | number | bigint>): string {
  const shown = Object.entries({ protocol, ...query }).map(([k, v]) => `${k}=${String(v)}`);
  return `ws://127.0.0.1:3014/channel?${shown.join('&')}`;
}

/** Runs open, update, leave and reestablish, and mutual close on a fresh service, in one envelope. */
export async function recordEnvelope(protocol: Protocol): Promise<Scenario[]> {
  const service = await startTestService({}, testConfig({ chain: { blockIntervalMs: 100 } }, testStorage('embedded')));
  try {
    const [initiatorAccount, responderAccount] = await service.fundedAccounts(2, 10_000n * AE);
    const accounts = { initiator: initiatorAccount!, responder: responderAccount! };
    let channelId: string | null = null;
    const norm = new Normaliser(accounts, () => channelId);
    const common = { initiator_id: accounts.initiator.address, responder_id: accounts.responder.address, ...CHANNEL };
    const iQuery = { ...common, host: 'localhost' };
    const rQuery = common;
    const scenarios: Scenario[] = [];
    const chan = (frame: any) => (protocol === 'json-rpc' ? frame.params.channel_id : frame.channel_id);

    // open: the initiator connects first, as the aepp-sdk does
    const initiator = await RecordedClient.connect(service.channelUrl, { ...iQuery }, protocol, 'initiator', accounts.initiator, norm);
    const responder = await RecordedClient.connect(service.channelUrl, { ...rQuery }, protocol, 'responder', accounts.responder, norm);
    const open = await initiator.seen((f) => frameKind(f) === 'info:open', 'open');
    channelId = chan(open);
    await Promise.all([initiator.seenCount('channels.update', 1), responder.seenCount('channels.update', 1)]);
    await quiet([initiator, responder]);
    scenarios.push({
      name: 'open',
      parts: [
        { who: 'initiator', url: urlOf(protocol, { role: 'initiator', ...iQuery }), lines: initiator.take(0) },
        { who: 'responder', url: urlOf(protocol, { role: 'responder', ...rQuery }), lines: responder.take(0) },
      ],
    });

    // update: a transfer, a query, a refused transfer
    let [i0, r0] = [initiator.lines.length, responder.lines.length];
    let [fi, fr] = [initiator.frames.length, responder.frames.length];
    initiator.request('channels.update.new', { from: accounts.initiator.address, to: accounts.responder.address, amount: TRANSFER });
    await Promise.all([initiator.seenCount('channels.update', 1, fi), responder.seenCount('channels.update', 1, fr)]);
    await quiet([initiator, responder]);
    fi = initiator.frames.length;
    initiator.request('channels.get.balances', { accounts: [accounts.initiator.address, accounts.responder.address] }, 1);
    await initiator.seenCount(protocol === 'json-rpc' ? 'result' : 'channels.get.balances', 1, fi);
    fi = initiator.frames.length;
    initiator.request('channels.update.new', { from: accounts.initiator.address, to: accounts.responder.address, amount: 5000n * AE });
    await initiator.seenCount('error', 1, fi);
    await quiet([initiator, responder]);
    scenarios.push({ name: 'update', parts: [{ who: 'initiator', lines: initiator.take(i0) }, { who: 'responder', lines: responder.take(r0) }] });

    // leave, then reestablish on a new socket with the fsm_id from fsm_up
    [i0, r0] = [initiator.lines.length, responder.lines.length];
    fr = responder.frames.length;
    const firstFsmId = fsmIdIn(initiator.frames.find((f) => fsmIdIn(f)))!;
    initiator.request('channels.leave');
    await initiator.closedAndDone();
    await responder.seenCount('channels.leave', 1);
    await quiet([initiator, responder]);
    const leaveLines = initiator.take(i0);
    const reQuery = { existing_channel_id: channelId!, existing_fsm_id: firstFsmId, host: 'localhost', port: CHANNEL.port };
    const back = await RecordedClient.connect(service.channelUrl, reQuery, protocol, 'initiator', accounts.initiator, norm);
    await Promise.all([back.seenCount('channels.update', 1), responder.seenCount('channels.update', 1, fr)]);
    await quiet([back, responder]);
    scenarios.push({
      name: 'reestablish',
      parts: [
        { who: 'initiator', lines: leaveLines },
        { who: 'responder', lines: responder.take(r0) },
        { who: 'initiator, on a new socket', url: urlOf(protocol, { role: 'initiator', ...reQuery }), lines: back.take(0) },
      ],
    });

    // mutual close
    r0 = responder.lines.length;
    const b0 = back.lines.length;
    back.request('channels.shutdown');
    await Promise.all([back.closedAndDone(), responder.closedAndDone()]);
    scenarios.push({ name: 'close', parts: [{ who: 'initiator', lines: back.take(b0) }, { who: 'responder', lines: responder.take(r0) }] });
    // normalised only now, when every id is known (a frame may name the channel before `open` told it)
    for (const part of scenarios.flatMap((s) => s.parts)) {
      part.url = part.url && norm.string(part.url);
      part.shown = part.lines.map((l) => `${l.dir} ${typeof l.frame === 'string' && l.dir === '--' ? l.frame : stringifyJson(norm.json(l.frame))}`);
    }
    return scenarios;
  } finally {
    await service.stop();
    await service.cleanup();
  }
}

// --- rendering ---

const TITLES: Record<Scenario['name'], string> = {
  open: 'Open',
  update: 'Update, a query and a refused update',
  reestablish: 'Leave and reestablish',
  close: 'Mutual close',
};

export function renderScenario(protocol: Protocol, scenario: Scenario): string {
  const out: string[] = [];
  for (const part of scenario.parts) {
    out.push(`**${part.who}**${part.url ? ` connects to\n\`${part.url}\`` : ''}`, '', '```text');
    out.push(...part.shown!);
    out.push('```', '');
  }
  return out.join('\n').trimEnd();
}

/** Every generated section of docs/api.md, by marker name. */
export async function generatedSections(): Promise<Record<string, string>> {
  const sections: Record<string, string> = { errors: errorTable() };
  for (const protocol of ['json-rpc', 'legacy'] as const) {
    for (const scenario of await recordEnvelope(protocol)) {
      sections[`transcript:${protocol}:${scenario.name}`] = renderScenario(protocol, scenario);
    }
  }
  return sections;
}

export const SCENARIO_TITLES = TITLES;

/**
 * When each reason is given. A Record over every reason: a reason added to fsm/reasons.ts without a
 * line here does not type-check, so the table cannot leave one out.
 */
const REASON_WHEN: Record<Reason, string> = {
  parse_error: 'the frame is not JSON, or is binary',
  invalid_request: 'the frame is JSON but not a request of this envelope (no `jsonrpc: "2.0"` or `method`; no `action`)',
  method_not_found: 'no such method, or one that needs a FATE VM (contracts, force progress)',
  invalid_params: 'a parameter is missing, unknown or of the wrong type (the detail names it); also a URL parameter out of its range',
  internal_error: 'the service failed to handle the request (nothing changed)',
  not_found: 'a reestablish of a channel this service has no record of (without `offchain_tx`); a `get.poi` for a non-participant or a contract',
  broken_encoding: 'a signed tx that is not the one asked for; an `existing_channel_id` that is not a channel id',
  value_too_low: 'a deposit or withdraw of 0; a negative URL amount; an amount (after the push) below the channel reserve; a `fee` below the least fee of its tx, a `gas_price` below the minimum gas price, a `nonce` the account has used (the node: `too_low_fee`, answered with `-32603`)',
  conflict: 'not given as a refusal by this service today (conflicts come as `channels.conflict`)',
  not_ready: 'not given by this service today',
  insufficient_balance: 'a balance would fall below the channel reserve; an account holds less than it would lock',
  negative_amount: 'a negative amount in a request',
  invalid_pubkeys: 'an account id that is not a participant of the channel (or, at open, `initiator_id`/`responder_id` that are not account ids)',
  broken_encoding_accounts: 'an account id that does not decode: `from`, `to` of a transfer or a message, an entry of `accounts`',
  broken_encoding_transaction: 'a `signed_tx` or `offchain_tx` that is not a transaction',
  not_a_number: 'an amount that is not an integer; the `amount` of `update.new`, `deposit` or `withdraw` given as a JSON string (the node takes numbers only there)',
  participant_not_found: 'a participant without an account on chain, at open',
  not_offchain_tx: 'a solo close, slash or snapshot whose state is not an off-chain tx; an `offchain_tx` that is not a co-signed state',
  already_onchain: 'a snapshot or slash with a round the chain already has',
  invalid_meta_object: 'a `meta` that is not a list of strings',
  invalid_error_code: 'a sign answer `{error}` outside 1..65535',
  invalid_fsm_id: 'an `existing_fsm_id` that does not match',
  bad_signature: 'a signature that is not good for the signer\'s account and the network id',
  not_allowed_now: 'a request the channel cannot take in its current state (not open yet, busy, closing, a sign answer nobody asked for)',
  missing_fsm_id: 'a reestablish without `existing_fsm_id`',
  bad_state_hash: 'a signed tx whose state hash is not the expected one; an `offchain_poi` that does not prove `offchain_tx`\'s state',
  wrong_round: 'a signed tx of another round; an `offchain_tx` older than the chain\'s round',
  frame_too_large: 'a frame larger than `MAX_FRAME_BYTES`',
  store_unavailable: 'the co-signed round could not be persisted: the update did not happen (a `conflict` comes with it)',
  channel_not_found: 'a reestablish of a channel the chain does not have (closed, or never created on this chain)',
  service_full: 'the service hosts `MAX_CHANNELS` FSMs already',
  too_many_connections: 'more than `MAX_CONNECTIONS_PER_ADDRESS` sockets from one address',
  unknown_block_hash: 'a `block_hash` the chain does not have (the node names this reason; its JSON-RPC answers it with `-32603`)',
  block_hash_too_new: 'the peer refused a proposal pinned to a block newer than its `bh_delta_not_newer_than` allows: given in `channels.conflict` (`reason`) and to the peer\'s client',
  block_hash_too_old: 'the same, for a block older than the peer\'s `bh_delta_not_older_than`',
  responder_port_not_allowed: 'a new responder on a `port` that `PEER_PORTS` does not list (the node\'s reason; the node has no code for it)',
  fsm_owned_elsewhere: 'a reestablish at one service instance while another live instance sharing its Redis hosts the FSM (holds its lease) and cannot be reached to relay the client there (it died or is paused, and its lease has not run out yet), or a forwarded connection reached an instance that no longer hosts the FSM; the detail names the owner and why. Reestablish again: once the lease has run out, the instance reached takes the FSM over. (While the owner can be reached, the client is served by it through the instance it reached: nothing is refused)',
  lease_lost: 'another service instance took this FSM over (this one stopped renewing its lease in time: paused, cut off): the FSM stops here (`died` follows and the socket closes) and lives on there, reached by a reestablish',
};

/** The error table, from lib/errors.ts ERRORS itself. */
export function errorTable(): string {
  const topLevel = new Set<number>(Object.values(JSONRPC_CODE).filter((c) => c < 0));
  const rows = Object.entries(ERRORS).map(([reason, info]) => {
    const jsonRpc = topLevel.has(info.code) ? `\`${info.code}\` (top level)` : `\`${info.rpcCode ?? 3}\`, data \`${info.code}\``;
    return `| \`${reason}\` | ${jsonRpc} | ${info.message} | ${REASON_WHEN[reason as Reason]} |`;
  });
  return ['| reason (legacy `payload.reason`) | JSON-RPC `error.code`, `error.data[0].code` | message | when |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const MARKER = /<!-- generated:([^ ]+) -->\n[\s\S]*?<!-- end generated:\1 -->/g;

/** The document with each generated section replaced by its new text; a marker without a section is an error. */
export function splice(doc: string, sections: Record<string, string>): string {
  const used = new Set<string>();
  const out = doc.replace(MARKER, (_all, name: string) => {
    const text = sections[name];
    if (text === undefined) throw new Error(`docs: no generated section named ${name}`);
    used.add(name);
    return `<!-- generated:${name} -->\n${text}\n<!-- end generated:${name} -->`;
  });
  const unused = Object.keys(sections).filter((name) => !used.has(name));
  if (unused.length) throw new Error(`docs: no marker for ${unused.join(', ')}`);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const doc = readFileSync(DOCS_PATH, 'utf8');
  const next = splice(doc, await generatedSections());
  if (next === doc) console.log('docs/api.md is current');
  else {
    writeFileSync(DOCS_PATH, next);
    console.log('docs/api.md updated');
  }
}
