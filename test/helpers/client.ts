/**
 * A WebSocket test client that speaks either envelope and reads both the same way: every incoming
 * frame becomes {method, data, frame}, with the method named as in JSON-RPC. It signs what the
 * service asks it to with the aepp-sdk, or aborts, as a script tells it.
 */
import WebSocket from 'ws';
import type { AccountMemory } from '@aeternity/aepp-sdk';
import { parseJson, stringifyJson } from '../../lib/json.js';
import { cosign } from './accounts.js';

export type Protocol = 'json-rpc' | 'legacy';

export interface Incoming {
  method: string;
  data: any;
  frame: any;
}

export type SignPolicy = (tag: string, tx: string, data: any) => 'sign' | number | 'ignore' | Promise<string>;

export class TestClient {
  readonly received: Incoming[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  closed: { code: number; reason: string } | null = null;
  /** how sign requests are answered; 'ignore' leaves them to the test */
  policy: SignPolicy = () => 'sign';

  private constructor(private readonly ws: WebSocket, readonly protocol: Protocol, public account: AccountMemory | null) {
    ws.on('message', (data) => {
      const frame = parseJson(data.toString()) as any;
      // a JSON-RPC batch's answers arrive as one array frame
      const incoming = Array.isArray(frame) ? { method: 'batch', data: frame.map((f) => normalize(f, protocol)), frame } : normalize(frame, protocol);
      this.received.push(incoming);
      this.maybeSign(incoming);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  static async connect(url: string, query: Record<string, string | number | bigint | boolean>, protocol: Protocol, account: AccountMemory | null): Promise<TestClient> {
    const search = new URLSearchParams({ protocol, ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])) });
    const ws = new WebSocket(`${url}?${search}`);
    const client = new TestClient(ws, protocol, account);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private maybeSign(incoming: Incoming): void {
    const match = /^channels\.sign\.(.+)$/.exec(incoming.method);
    if (!match || !this.account) return;
    const tag = match[1]!;
    const tx = incoming.data.signed_tx ?? incoming.data.tx;
    const answer = this.policy(tag, tx, incoming.data);
    if (answer === 'ignore') return;
    if (answer === 'sign') void cosign(this.account, tx).then((signed) => this.reply(tag, { signed_tx: signed }));
    else if (typeof answer === 'number') this.reply(tag, { error: answer });
    else void answer.then((signed) => this.reply(tag, { signed_tx: signed }));
  }

  /** Answers a sign request the way each envelope does. */
  reply(tag: string, params: { signed_tx?: string; error?: number }): void {
    if (this.protocol === 'legacy' && params.signed_tx) this.send(`channels.${tag}`, { tx: params.signed_tx });
    else this.send(`channels.${tag}`, params);
  }

  /** Sends a request named by its JSON-RPC method, in this client's envelope. */
  send(method: string, params: Record<string, unknown> = {}, id?: number): void {
    if (this.protocol === 'json-rpc') {
      this.sendRaw(stringifyJson({ jsonrpc: '2.0', method, params, ...(id !== undefined && { id }) }));
      return;
    }
    const [action, ...tag] = method.replace(/^channels\./, '').split('.');
    this.sendRaw(stringifyJson({ action, ...(tag.length && { tag: tag.join('.') }), payload: params, ...(id !== undefined && { id }) }));
  }

  sendRaw(text: string | Buffer): void {
    this.ws.send(text);
  }

  /** The next message (after the last one taken) that matches; earlier non-matching ones are skipped. */
  async next(match: (m: Incoming) => boolean, timeoutMs = 10_000): Promise<Incoming> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const m = this.received[this.cursor++]!;
        if (match(m)) return m;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting; got ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  /** Waits for the next message with this method (and info event, if given). */
  nextMethod(method: string, event?: string, timeoutMs?: number): Promise<Incoming> {
    return this.next((m) => m.method === method && (event === undefined || m.data?.event === event), timeoutMs);
  }

  /** All methods (with info events) received so far, for sequence assertions. */
  sequence(from = 0): string[] {
    return this.received.slice(from).map((m) => (m.method === 'channels.info' ? `info:${m.data.event}` : m.method === 'channels.on_chain_tx' ? `on_chain_tx:${m.data.info}` : m.method));
  }

  /** Waits until no message has arrived for a while: the exchange has settled. */
  async quiet(ms = 150): Promise<void> {
    let seen = -1;
    while (seen !== this.received.length) {
      seen = this.received.length;
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }

  mark(): number {
    this.cursor = this.received.length;
    return this.cursor;
  }

  describe(): string {
    return JSON.stringify(this.sequence().slice(-12));
  }

  close(): void {
    this.ws.close();
  }

  async closedAndDone(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
  }
}

/** One shape for both envelopes: JSON-RPC methods, the node's `data` objects. */
function normalize(frame: any, protocol: Protocol): Incoming {
  if (protocol === 'json-rpc') {
    if (frame.error) return { method: 'error', data: frame.error, frame };
    if ('result' in frame) return { method: 'result', data: frame.result, frame };
    return { method: frame.method, data: frame.params?.data, frame };
  }
  const method = frame.action === 'error' ? 'error' : `channels.${frame.action}${frame.tag ? `.${frame.tag}` : ''}`;
  const data = frame.action === 'sign' ? { ...frame.payload, signed_tx: frame.payload.tx } : frame.payload;
  return { method, data, frame };
}
