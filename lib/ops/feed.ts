/**
 * The live event feed, `ws://OPS_HOST:OPS_PORT/events[?channel_id=ch_…,ch_…][&type=a,b]`: one JSON
 * object per event. A reader that falls behind by more than `maxBufferedBytes` is dropped, so it can
 * neither slow the channels down nor grow the service's memory.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CHANNEL_ID } from './channels.js';
import { CLIENT_TYPES, EVENT_TYPES, type OpsEvents } from './events.js';

export const FEED_MAX_BUFFERED_BYTES = 1 << 20;

export interface FeedFilter {
  channels: Set<string> | null;
  types: Set<string> | null;
}

/** The filter a feed URL asks for, or why it cannot be had. */
export function parseFeedFilter(search: URLSearchParams): FeedFilter | { error: string } {
  for (const key of search.keys()) {
    if (key !== 'channel_id' && key !== 'type') return { error: `unknown parameter ${key}: the feed takes channel_id and type` };
  }
  const list = (key: string) => (search.has(key) ? search.getAll(key).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean) : null);
  const channels = list('channel_id');
  const types = list('type');
  const badChannel = channels?.find((id) => !CHANNEL_ID.test(id));
  if (badChannel !== undefined) return { error: `channel_id ${JSON.stringify(badChannel.slice(0, 80))} is not a channel id (ch_…)` };
  const badType = types?.find((type) => !EVENT_TYPES.includes(type));
  if (badType !== undefined) return { error: `type ${JSON.stringify(badType.slice(0, 80))} is not an event type; one of ${EVENT_TYPES.join(', ')}` };
  if (channels?.length === 0 || types?.length === 0) return { error: 'channel_id and type must not be empty when given' };
  return { channels: channels && new Set(channels), types: types && new Set(types) };
}

export class EventFeed {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024, handleProtocols: (protocols) => [...protocols][0] ?? false });

  constructor(private readonly events: OpsEvents, private readonly maxBufferedBytes = FEED_MAX_BUFFERED_BYTES) {}

  get readers(): number {
    return this.wss.clients.size;
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, filter: FeedFilter): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, filter, req.socket.remoteAddress ?? 'unknown'));
  }

  private serve(ws: WebSocket, filter: FeedFilter, address: string): void {
    const wantsClientEvents = !filter.types || CLIENT_TYPES.some((type) => filter.types!.has(type));
    let dropped = false;
    const unsubscribe = this.events.on((event) => {
      if (dropped) return;
      if (filter.types && !filter.types.has(event.type)) return;
      if (filter.channels && !(event.channel_id && filter.channels.has(event.channel_id))) return;
      if (ws.bufferedAmount > this.maxBufferedBytes) {
        dropped = true;
        unsubscribe();
        ws.terminate();
        this.events.emit({ type: 'feed_reader_dropped', address, detail: `more than ${this.maxBufferedBytes} bytes unread` });
        return;
      }
      ws.send(JSON.stringify(event));
    }, { clientEvents: wantsClientEvents });
    ws.on('close', unsubscribe);
    ws.on('error', () => ws.terminate());
    // readers only read: anything they send is ignored
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
