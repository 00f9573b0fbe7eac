/**
 * A real TCP proxy between two services' peer link, for tests that break the link under a channel:
 * `listenHost:port → targetHost:port` for each port asked of it. `drop()` destroys every connection
 * (both ends see a reset); `stall()` keeps the connections open but stops forwarding, in both
 * directions, what was not yet passed on (a peer or a network that hangs); a close of either end
 * still passes to the other, as it does through a hung peer's kernel or a middlebox that still runs
 * TCP (a partition that swallows it too is not modelled); new connections while stalled are held
 * without a byte passed; `resume()` forwards again for new connections and ends the stalled ones.
 * `partition()` resets the dialling side's connections and swallows the close: the far side's stay
 * open, silent (a half-open link, as a partition or a lost machine leaves it).
 */
import net from 'node:net';

export class TcpProxy {
  private readonly servers = new Map<number, net.Server>();
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private stalled = false;
  /** pairs whose close is not passed on (partition()) */
  private readonly swallowed = new WeakSet<[net.Socket, net.Socket]>();
  /** connections accepted so far (a redial shows as one more) */
  links = 0;

  constructor(private readonly listenHost: string, private readonly targetHost: string) {}

  async forward(port: number): Promise<void> {
    const server = net.createServer((client) => {
      this.links++;
      const upstream = net.connect({ host: this.targetHost, port });
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        from.on('error', () => undefined);
        from.on('close', () => {
          // a partition's far end stays open (and is still ended by drop() and close())
          if (from === client && this.swallowed.has(pair)) return;
          this.pairs.delete(pair);
          to.destroy();
        });
        // bytes pass one chunk at a time, and none while stalled: a stalled link hangs, it does not fail
        from.on('data', (chunk) => { if (!this.stalled) to.write(chunk); });
      }
      if (this.stalled) { client.pause(); upstream.pause(); }
    });
    await new Promise<void>((resolve) => server.listen(port, this.listenHost, resolve));
    this.servers.set(port, server);
  }

  /** every open connection reset at once */
  drop(): void {
    for (const [a, b] of this.pairs) { a.destroy(); b.destroy(); }
  }

  /** the dialling side's connections reset; the far side's left open, hearing nothing more */
  partition(): void {
    for (const pair of this.pairs) {
      if (this.swallowed.has(pair)) continue;
      this.swallowed.add(pair);
      pair[1].pause();
      pair[0].destroy();
    }
  }

  /** nothing forwarded any more, no connection closed */
  stall(): void {
    this.stalled = true;
  }

  /** forward again: the stalled connections are ended (what they held is lost), new ones pass */
  resume(): void {
    this.stalled = false;
    this.drop();
  }

  async close(): Promise<void> {
    this.drop();
    await Promise.all([...this.servers.values()].map((s) => new Promise((r) => s.close(r))));
  }
}
