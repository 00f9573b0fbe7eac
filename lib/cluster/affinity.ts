/**
 * Channel affinity for WORKERS > 1: the primary accepts each connection to the WebSocket port itself,
 * reads the HTTP request head, and hands the socket to the worker the channel hashes to. A channel's
 * two participants name the same port, initiator and responder in their requests, so they meet on one
 * worker and pair in-process: no peer link between workers, one store write per round for both sides
 * (BENCHMARKS.md: a channel across two processes costs 1.59x the CPU of one in-process). A reconnect
 * that names them again lands where its FSM runs.
 *
 * The kernel's balancing (node's cluster round robin) cannot do this: it hands a connection out before
 * a byte of it is read. The primary reads only the head (at most MAX_HEAD_BYTES, within HEAD_TIMEOUT_MS)
 * and passes the bytes read with the socket, so the worker's HTTP server parses the request as if it
 * had read it itself.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';

/** An HTTP request head longer than node's own default limit is no channel request. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** A client that has not sent its request head by then is dropped (a slow-loris must not hold sockets). */
export const HEAD_TIMEOUT_MS = 10_000;

const ACCOUNT = /^ak_[1-9A-HJ-NP-Za-km-z]{30,60}$/;
const CHANNEL = /^ch_[1-9A-HJ-NP-Za-km-z]{30,60}$/;

/**
 * What a request's channel hashes by: its pairing (port, initiator, responder) when it names all three,
 * as both participants of a new channel do and a reconnect built from the same options does; else the
 * channel a reestablish names; else nothing (a responder open to any initiator, a malformed request:
 * any worker will do, and the store pairs them across workers if need be).
 */
export function affinityKey(head: string): string | null {
  const target = /^[A-Z]+ (\S+) HTTP\/1\.[01]\r?\n/.exec(head)?.[1];
  if (!target) return null;
  let query: URLSearchParams;
  try {
    query = new URL(target, 'http://channel').searchParams;
  } catch {
    return null;
  }
  const [port, initiator, responder] = [query.get('port'), query.get('initiator_id'), query.get('responder_id')];
  if (port && /^\d{1,5}$/.test(port) && initiator && ACCOUNT.test(initiator) && responder && ACCOUNT.test(responder)) {
    return `${Number(port)}|${initiator}|${responder}`;
  }
  const channel = query.get('existing_channel_id');
  return channel && CHANNEL.test(channel) ? `channel|${channel}` : null;
}

/** The worker for a key among `count`: the same one every time while it is up, the next one up while it is not. */
export function workerFor(key: string | null, count: number, isUp: (index: number) => boolean, roundRobin: () => number): number | null {
  const first = key === null ? roundRobin() % count : createHash('sha256').update(key).digest().readUInt32BE(0) % count;
  for (let step = 0; step < count; step++) {
    const index = (first + step) % count;
    if (isUp(index)) return index;
  }
  return null;
}

/** Reads a connection's request head, then hands the socket and the bytes read to `route`. */
export function readHead(socket: net.Socket, route: (head: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
  const done = () => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.pause();
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    const head = Buffer.concat(chunks, size);
    if (head.includes('\r\n\r\n') || head.includes('\n\n')) {
      done();
      route(head);
    } else if (size > MAX_HEAD_BYTES) {
      done();
      socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  };
  socket.on('data', onData);
  socket.on('error', () => clearTimeout(timer));
  socket.on('close', () => clearTimeout(timer));
}
