/** A WebSocket echo server in a process of its own, so the echo limit crosses processes as the bench does. */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
process.on('disconnect', () => process.exit(0));
