/**
 * A worker of `npm start` with WORKERS > 1 (lib/cluster/primary.ts): an ordinary service process
 * that tells the primary it is up, serves the connections the primary hands it and lets it collect
 * its metrics.
 */
import cluster from 'node:cluster';
import { Socket } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { RunningService } from '../service.js';
import type { RoutedConnection, WorkerUp } from './primary.js';

/** Which worker this process is (0, 1, …), or null when it is no cluster worker. */
export function workerIndex(): number | null {
  return cluster.isWorker && process.env.AESC_WORKER !== undefined ? Number(process.env.AESC_WORKER) : null;
}

/** The service is up: the primary's /metrics now sums this worker's too. */
export function announceWorker(service: RunningService): void {
  // the service's metrics live on a registry of its own, not prom-client's global one
  AggregatorRegistry.setRegistries([service.metrics.registry]);
  // prom-client answers the primary's requests only once an AggregatorRegistry was made in the worker
  void new AggregatorRegistry();
  // the primary hands over the sockets of this worker's channels, with the bytes it read of each
  process.on('message', (message: Partial<RoutedConnection>, handle: unknown) => {
    if (message?.aesc !== 'connection' || !(handle instanceof Socket) || typeof message.head !== 'string') return;
    service.acceptConnection(handle, Buffer.from(message.head, 'base64'));
  });
  const up: WorkerUp = { aesc: 'worker-up', opsUrl: service.opsUrl, channelUrl: service.channelUrl };
  process.send?.(up);
}
