/**
 * A client that speaks JSON text frames in one envelope: what its session tells it is rendered by the
 * codec and written as text; what it writes is size-checked, parsed and decoded into the requests the
 * session's inbox takes. The WebSocket server and the in-process participants (lib/embed) both use it,
 * so both get the same envelope, the same checks and the same debug lines.
 */
import type { Reason } from '../../fsm/reasons.js';
import type { ChannelId, ClientOutput } from '../../fsm/types.js';
import type { ClientLink, ClientRequest, Incoming } from '../channel/client.js';
import { JsonParseError, parseJson, stringifyJson, type Json } from '../json.js';
import type { Logger } from '../log.js';
import { redactFrame } from '../redact.js';
import type { Codec, Frame } from './codec.js';

/** Where the frames go: a socket, or an in-process participant. */
export interface FrameSink {
  send(text: string): void;
  close(code: number, reason: string): void;
}

export interface FrameClientOptions {
  log: Logger;
  /** the largest frame read; larger ones get `frame_too_large` */
  maxFrameBytes: number;
  /** what the debug lines say of whose frames they are */
  fields?: Record<string, unknown>;
}

export class FrameClient implements ClientLink {
  /**
   * While a JSON-RPC batch is taken: what answers its requests (results, errors, `.reply` and pong
   * notifications), sent as one frame at its end, and what the channel says meanwhile, sent after it:
   * from the node, too, the FSM speaks after the handler has answered the frame (sc_ws_api_jsonrpc).
   */
  private batched: { answers: Frame[]; after: Frame[] } | null = null;

  constructor(readonly codec: Codec, private readonly sink: FrameSink, private readonly options: FrameClientOptions) {}

  /** A text frame from the client: the request it makes, or why it makes none. */
  read(text: string): Incoming {
    const { log, maxFrameBytes } = this.options;
    if (log.isDebugEnabled()) log.debug('frame in', { ...this.options.fields, frame: redactFrame(text.slice(0, 2000)) });
    // a UTF-16 unit is at most 3 UTF-8 bytes: most frames are known small without counting their bytes
    if (text.length * 3 > maxFrameBytes && Buffer.byteLength(text) > maxFrameBytes) return { error: 'frame_too_large', detail: `at most ${maxFrameBytes} bytes`, raw: {} };
    let frame: Json;
    try {
      frame = parseJson(text);
    } catch (err) {
      return { error: 'parse_error', detail: err instanceof JsonParseError ? err.message : 'unreadable', raw: {} };
    }
    if (Array.isArray(frame) && this.codec.protocol === 'json-rpc') {
      if (frame.length === 0) return { error: 'invalid_request', detail: 'an empty batch', raw: frame };
      return { batch: frame.map((member) => this.codec.decode(member)) };
    }
    return this.codec.decode(frame);
  }

  batch(phase: 'start' | 'end'): void {
    if (phase === 'start') {
      this.batched = { answers: [], after: [] };
      return;
    }
    const { answers, after } = this.batched ?? { answers: [], after: [] };
    this.batched = null;
    // as the node: one answer goes as itself, several as an array, none not at all
    if (answers.length) this.send(answers.length === 1 ? answers[0]! : answers);
    for (const frame of after) this.send(frame);
  }

  /** Frames are JSON text; a binary frame is refused without being read. */
  readBinary(): Incoming {
    return { error: 'parse_error', detail: 'binary frames are not accepted', raw: {} };
  }

  output(channelId: ChannelId | null, output: ClientOutput): void {
    // the FSM's refusal of a request answers it
    const answers = output.kind === 'error' && output.request !== undefined && output.request !== null;
    this.write(this.codec.output(channelId, output), answers);
  }

  accepted(channelId: ChannelId | null, request: ClientRequest): void {
    const frame = this.codec.accepted(channelId, request);
    if (frame) this.write(frame, true);
  }

  answer(channelId: ChannelId | null, request: ClientRequest, result: unknown): void {
    this.write(this.codec.answer(channelId, request, result), true);
  }

  refuse(channelId: ChannelId | null, request: { raw: Json; id?: Json }, reason: Reason, detail?: string): void {
    this.write(this.codec.error(channelId, request.raw, request.id, reason, detail), true);
  }

  pong(channelId: ChannelId | null, request: ClientRequest): void {
    this.write(this.codec.pong(channelId, request), true);
  }

  close(code: number, reason: string): void {
    this.sink.close(code, reason);
  }

  private write(frame: Frame, answers = false): void {
    if (this.batched) (answers ? this.batched.answers : this.batched.after).push(frame);
    else this.send(frame);
  }

  private send(frame: Frame | Frame[]): void {
    const text = stringifyJson(frame);
    const { log } = this.options;
    if (log.isDebugEnabled()) log.debug('frame out', { ...this.options.fields, frame: redactFrame(text.slice(0, 2000)) });
    this.sink.send(text);
  }
}
