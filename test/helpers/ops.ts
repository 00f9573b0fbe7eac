/**
 * Reading the ops listener as an operator's tools do: HTTP GETs and the /events feed over a real
 * WebSocket, collecting what arrives.
 */
import WebSocket from 'ws';

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}

/** One feed reader: every event it got, and a way to wait for one. */
export class FeedReader {
  readonly events: any[] = [];
  private waiters = new Set<() => void>();
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()));
      for (const w of this.waiters) w();
    });
    ws.on('close', () => { this.closed = true; for (const w of this.waiters) w(); });
  }

  static async connect(opsUrl: string, query = '', options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<FeedReader> {
    const ws = new WebSocket(`${opsUrl.replace(/^http/, 'ws')}/events${query}`, options.protocols ?? [], { headers: options.headers });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return new FeedReader(ws);
  }

  /** Resolves with the first event (seen already or to come) that matches. */
  async waitFor(match: (e: any) => boolean, timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`feed closed; got ${JSON.stringify(this.events.map((e) => e.type))}`);
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((resolve) => {
        const w = () => { this.waiters.delete(w); clearTimeout(timer); resolve(); };
        const timer = setTimeout(w, deadline - Date.now());
        this.waiters.add(w);
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** Why a WebSocket upgrade to the feed was refused: the HTTP status and the JSON body. */
export function feedRefusal(opsUrl: string, query: string, options: { protocols?: string[] } = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${opsUrl.replace(/^http/, 'ws')}/events${query}`, options.protocols ?? []);
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.on('open', () => { ws.close(); reject(new Error('the feed accepted')); });
    ws.on('error', () => undefined);
  });
}

/** The value of one sample in Prometheus text (`name{labels} value`), or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
