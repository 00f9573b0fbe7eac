/**
 * The dev chain's node HTTP API: the endpoints of the Aeternity node (v3) that the aepp-sdk's `AeSdk`
 * calls to read accounts, spend from genesis and follow a tx until it is mined.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Tag } from '../../sdk.js';
import type { AccountId, ChannelId } from '../../../fsm/types.js';
import { channelJson } from './channel-rules.js';
import { parseJson, stringifyJson } from '../../json.js';
import { MIN_GAS_PRICE } from '../../tx/gas-price.js';
import type { Logger } from '../../log.js';
import { ChainRejectedError } from '../types.js';
import type { DevChain, MinedTx } from './dev-chain.js';

/** A node version inside the range the aepp-sdk v14 accepts (>= 7.1.0 < 8.0.0). */
const NODE_VERSION = '7.3.0';
/** Ceres, the consensus protocol the aepp-sdk v14 expects. */
const PROTOCOL_VERSION = 6;
const MAX_BODY_BYTES = 1024 * 1024;

type Reply = { status: number; body?: unknown };

export function createNodeHttpApi(chain: DevChain, log: Logger): Server {
  const startedAt = Date.now();

  const keyBlock = (hash: string, height: number) => ({
    hash, height, prev_hash: chain.blockHash(Math.max(height - 1, 0), 'kh'), prev_key_hash: chain.blockHash(Math.max(height - 1, 0), 'kh'),
    state_hash: 'bs_2aBz1QS23piMnSmZGwQk8iNCHLBdHSycPBbA5SHuScuYfHATit', miner: 'ak_11111111111111111111111111111111273Yts',
    beneficiary: 'ak_11111111111111111111111111111111273Yts', target: 0, time: 0, version: PROTOCOL_VERSION, info: 'cb_AAAAAfy4hFE=',
  });
  const txJson = (tx: MinedTx) => ({
    hash: tx.hash,
    block_height: tx.blockHeight,
    block_hash: tx.blockHeight < 0 ? 'none' : chain.blockHash(tx.blockHeight, 'mh'),
    signatures: tx.signatures.map((s) => Buffer.from(s).toString('base64')),
    tx: apiTx(tx.tx),
  });
  const routes: Array<[RegExp, string, (m: RegExpMatchArray, body: unknown) => Promise<Reply>]> = [
    [/^\/v3\/status$/, 'GET', async () => ({
      status: 200,
      body: {
        network_id: chain.networkId,
        node_version: NODE_VERSION,
        node_revision: 'aesc-dev-chain',
        protocols: [{ version: PROTOCOL_VERSION, effective_at_height: 0 }],
        top_block_height: await chain.height(),
        top_key_block_hash: chain.blockHash(await chain.height(), 'kh'),
        genesis_key_block_hash: chain.blockHash(0, 'kh'),
        solutions: 0, difficulty: 0, hashrate: 0, syncing: false, sync_progress: 100, listening: true,
        peer_count: 0, peer_connections: { inbound: 0, outbound: 0 },
        pending_transactions_count: chain.pendingCount(),
        peer_pubkey: 'pp_dev', uptime: `${Math.round((Date.now() - startedAt) / 1000)}s`,
      },
    })],
    [/^\/v3\/recent-gas-prices$/, 'GET', async () => ({ status: 200, body: [{ min_gas_price: Number(MIN_GAS_PRICE), utilization: 0, minutes: 1 }] })],
    [/^\/v3\/key-blocks\/current\/height$/, 'GET', async () => ({ status: 200, body: { height: await chain.height() } })],
    [/^\/v3\/key-blocks\/current$/, 'GET', async () => {
      const height = await chain.height();
      return { status: 200, body: keyBlock((await chain.keyBlockHash(height))!, height) };
    }],
    // blocks, as far as pinning needs them: a hash and its height
    [/^\/v3\/key-blocks\/height\/(\d+)$/, 'GET', async ([, height]) => {
      const hash = await chain.keyBlockHash(Number(height));
      return hash ? { status: 200, body: keyBlock(hash, Number(height)) } : { status: 404, body: { reason: 'Block not found' } };
    }],
    [/^\/v3\/key-blocks\/hash\/(kh_\w+)$/, 'GET', async ([, hash]) => {
      const height = await chain.blockHeight(hash!);
      return height === null ? { status: 404, body: { reason: 'Block not found' } } : { status: 200, body: keyBlock(hash!, height) };
    }],
    [/^\/v3\/micro-blocks\/hash\/(mh_\w+)\/header$/, 'GET', async ([, hash]) => {
      const height = await chain.blockHeight(hash!);
      if (height === null) return { status: 404, body: { reason: 'Block not found' } };
      return { status: 200, body: { ...keyBlock(hash!, height), pof_hash: 'no_fraud', txs_hash: hash, signature: 'sg_1111111111111111111111111111111111111111111111111111111111111111111111111111' } };
    }],
    [/^\/v3\/accounts\/(ak_\w+)$/, 'GET', async ([, id]) => {
      const account = await chain.account(id as AccountId);
      if (!account) return { status: 404, body: { reason: 'Account not found' } };
      return { status: 200, body: { id, balance: account.balance, nonce: account.nonce, payable: true, kind: 'basic' } };
    }],
    [/^\/v3\/accounts\/(ak_\w+)\/next-nonce$/, 'GET', async ([, id]) => {
      if (!(await chain.account(id as AccountId))) return { status: 404, body: { reason: 'Account not found' } };
      return { status: 200, body: { next_nonce: await chain.nextNonce(id as AccountId) } };
    }],
    [/^\/v3\/transactions\/(th_\w+)$/, 'GET', async ([, txHash]) => {
      const tx = chain.transaction(txHash!);
      return tx ? { status: 200, body: txJson(tx) } : { status: 404, body: { reason: 'Transaction not found' } };
    }],
    // a generation: its key block and (on the dev chain) one micro block holding the txs mined at that height
    [/^\/v3\/generations\/height\/(\d+)$/, 'GET', async ([, height]) => {
      const txs = chain.generation(Number(height));
      if (!txs) return { status: 404, body: { reason: 'Block not found' } };
      const h = Number(height);
      return { status: 200, body: { key_block: keyBlock(chain.blockHash(h, 'kh'), h), micro_blocks: txs.length > 0 ? [chain.blockHash(h, 'mh')] : [] } };
    }],
    [/^\/v3\/micro-blocks\/hash\/(mh_\w+)\/transactions$/, 'GET', async ([, hash]) => {
      const height = await chain.blockHeight(hash!);
      if (height === null) return { status: 404, body: { reason: 'Block not found' } };
      return { status: 200, body: { transactions: chain.generation(height)!.map(txJson) } };
    }],
    [/^\/v3\/transactions$/, 'POST', async (_m, body) => {
      const tx = (body as { tx?: unknown } | null)?.tx;
      if (typeof tx !== 'string') return { status: 400, body: { reason: 'Invalid tx' } };
      try {
        return { status: 200, body: { tx_hash: await chain.postTx(tx as `tx_${string}`) } };
      } catch (err) {
        if (err instanceof ChainRejectedError) return { status: 400, body: { reason: err.message } };
        throw err;
      }
    }],
    [/^\/v3\/channels\/(ch_\w+)$/, 'GET', async ([, id]) => {
      const channel = chain.channelNow(id as ChannelId);
      if (!channel) return { status: 404, body: { reason: 'Channel not found', error_code: 'not_found' } };
      return { status: 200, body: channelJson(channel) };
    }],
    // The aepp-sdk asks this of networks it does not know; a node without hyperchains answers 404 with no body.
    [/^\/v3\/hyperchain\/contracts$/, 'GET', async () => ({ status: 404 })],
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = routes.find(([pattern, method]) => method === req.method && pattern.test(path));
    let reply: Reply;
    if (!route) {
      reply = { status: 404, body: { reason: 'Not found' } };
    } else {
      const raw = req.method === 'POST' ? await readBody(req) : '';
      let body: unknown = null;
      try {
        body = raw ? parseJson(raw) : null;
        reply = await route[2](path.match(route[0])!, body);
      } catch (err) {
        reply = body === null && raw ? { status: 400, body: { reason: 'Invalid JSON' } } : { status: 500, body: { reason: (err as Error).message } };
      }
    }
    const text = reply.body === undefined ? '' : stringifyJson(reply.body);
    res.writeHead(reply.status, reply.body === undefined ? {} : { 'content-type': 'application/json' });
    res.end(text);
  };

  return createServer((req, res) => {
    handle(req, res).catch((err) => {
      log.error('node api failure', { error: (err as Error).message });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Fields the aepp-sdk's unpacked txs name otherwise than the node's API does. */
const API_NAMES: Record<string, string> = { initiator: 'initiator_id', responder: 'responder_id' };

/** A tx as the node's API renders it: snake_case fields and a type name. */
function apiTx(tx: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: Tag[tx.tag as Tag] };
  for (const [key, value] of Object.entries(tx)) {
    if (key === 'tag') continue;
    out[API_NAMES[key] ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = typeof value === 'string' && /^\d+$/.test(value) ? BigInt(value) : value;
  }
  return out;
}
