/**
 * One participant's client for the bench: a JSON-RPC WebSocket client that signs every sign request
 * at once with its own key, and keeps the time it spent signing so the rest of a transfer's latency
 * can be put down to the service.
 */
import WebSocket from 'ws';
import { Signer } from './signer.js';

export interface Participant {
  address: string;
  secretKey: string;
}

type Message = { method?: string; params?: { data?: any }; error?: { message: string; data?: unknown } };
type Waiter = { match: (m: Message) => boolean; resolve: (m: Message) => void; reject: (e: Error) => void };

export class BenchClient {
  /** nanoseconds spent handling sign requests since the last reset */
  signingNs = 0n;
  /** sees every frame in, for tracing where a transfer's time goes */
  onFrame: ((method: string) => void) | null = null;
  private waiters: Waiter[] = [];
  private closedWith: Error | null = null;

  private constructor(private readonly ws: WebSocket, private readonly signer: Signer) {
    ws.on('message', (data) => this.receive(data.toString()));
    ws.on('close', (code, reason) => this.fail(new Error(`socket closed: ${code} ${reason.toString()}`)));
    ws.on('error', (err) => this.fail(err));
  }

  /** Connects; frames nobody waits for yet are dropped, so wait (`next`) before anything can arrive. */
  static connect(url: string, query: Record<string, string | number | bigint>, participant: Participant, networkId: string): BenchClient {
    const search = new URLSearchParams({ protocol: 'json-rpc', ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])) });
    return new BenchClient(new WebSocket(`${url}?${search}`, { perMessageDeflate: false }), new Signer(participant.secretKey, networkId));
  }

  private receive(text: string): void {
    const message = JSON.parse(text) as Message;
    const method = message.method;
    this.onFrame?.(method ?? 'reply');
    if (method?.startsWith('channels.sign.')) {
      const started = process.hrtime.bigint();
      const tag = method.slice('channels.sign.'.length);
      const signed = this.signer.cosign(message.params!.data.signed_tx);
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', method: `channels.${tag}`, params: { signed_tx: signed } }));
      this.signingNs += process.hrtime.bigint() - started;
      return;
    }
    if (message.error || method === 'channels.conflict') {
      this.fail(new Error(`the service refused: ${JSON.stringify(message.error ?? message.params)}`), false);
      return;
    }
    const index = this.waiters.findIndex((w) => w.match(message));
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
  }

  private fail(err: Error, closed = true): void {
    if (closed) this.closedWith ??= err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** The next frame with this method (and info event); frames nobody waits for are dropped. */
  next(method: string, event?: string): Promise<Message> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiters.push({ match: (m) => m.method === method && (event === undefined || m.params?.data?.event === event), resolve, reject });
    });
  }

  send(method: string, params: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export interface ChannelSpec {
  initiator: Participant;
  responder: Participant;
  port: number;
}

/** A channel the bench opened: both clients, and what a transfer needs. */
export class BenchChannel {
  private constructor(readonly spec: ChannelSpec, readonly initiator: BenchClient, readonly responder: BenchClient) {}

  /** Opens a channel through the service: both clients connect and sign the create tx. */
  static async open(url: string, spec: ChannelSpec, networkId: string): Promise<BenchChannel> {
    const query = {
      initiator_id: spec.initiator.address,
      responder_id: spec.responder.address,
      // within the node's 64-bit channel_open amounts: with WORKERS > 1 the two FSMs of a channel
      // may be on two workers, talking over the node's peer protocol
      initiator_amount: 10n ** 18n,
      responder_amount: 10n ** 18n,
      push_amount: 0,
      channel_reserve: 10n ** 15n,
      lock_period: 10,
      port: spec.port,
      minimum_depth: 0,
      minimum_depth_strategy: 'plain',
    };
    const initiator = BenchClient.connect(url, { ...query, role: 'initiator', host: 'localhost' }, spec.initiator, networkId);
    const responder = BenchClient.connect(url, { ...query, role: 'responder' }, spec.responder, networkId);
    await Promise.all([initiator.next('channels.update'), responder.next('channels.update')]);
    return new BenchChannel(spec, initiator, responder);
  }

  /**
   * One co-signed transfer of one aetto, initiator to responder: from update.new until both clients
   * have the new round. Returns the whole time and the part the two clients spent signing.
   */
  async transfer(): Promise<{ totalNs: bigint; clientNs: bigint }> {
    this.initiator.signingNs = 0n;
    this.responder.signingNs = 0n;
    const started = process.hrtime.bigint();
    const done = Promise.all([this.initiator.next('channels.update'), this.responder.next('channels.update')]);
    this.initiator.send('channels.update.new', { from: this.spec.initiator.address, to: this.spec.responder.address, amount: 1 });
    await done;
    return { totalNs: process.hrtime.bigint() - started, clientNs: this.initiator.signingNs + this.responder.signingNs };
  }

  async close(): Promise<void> {
    await Promise.all([this.initiator.close(), this.responder.close()]);
  }
}
