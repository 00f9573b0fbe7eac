/**
 * The live heap of another Node process, through its inspector (the service started with
 * `--inspect=127.0.0.1:0`): a full garbage collection, then the heap in use. Resident memory is a
 * high-water mark; this is what the process actually keeps.
 */
import WebSocket from 'ws';

/** The inspector's WebSocket URL from what `node --inspect` printed. */
export function inspectorUrl(output: string): string {
  return inspectorUrls(output)[0]!;
}

/** Every inspector URL the output names: with WORKERS > 1, the primary's and each worker's (they inherit --inspect). */
export function inspectorUrls(output: string): string[] {
  const urls = [...new Set([...output.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].map((m) => m[1]!))];
  if (urls.length === 0) throw new Error('the process did not print an inspector URL');
  return urls;
}

/** Bytes of heap in use after a full collection. */
export async function liveHeapBytes(url: string): Promise<number> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let nextId = 1;
  const call = (method: string) => new Promise<any>((resolve) => {
    const id = nextId++;
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString());
      if (message.id !== id) return;
      ws.off('message', onMessage);
      resolve(message.result);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id, method }));
  });
  try {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage'); // a second pass takes what the first one's finalizers let go
    const { usedSize } = await call('Runtime.getHeapUsage');
    return usedSize as number;
  } finally {
    ws.close();
  }
}
