/**
 * A stand-in ElizaOS for the push fan-out bench: a real Socket.IO server (the version
 * ElizaOS 1.7.2 runs), which does on the socket what ElizaOS does for the gateway
 * (docs/eliza-socket.md): a join (`"1"`) puts the socket in the channel's room and is
 * answered with `channel_joined`; `messageBroadcast` goes to a room when the bench says.
 * It also answers `/healthz`, as the gateway's health check asks for it.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

const AGENT_ID = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';

export interface PushUpstream {
  url: string;
  /** Channels joined since the start, over all sockets. */
  joins(): number;
  /** Sends one agent reply, its text `text`, to each channel's room, in order. */
  broadcast(channelIds: readonly string[], text: string): void;
  close(): Promise<void>;
}

export async function startPushUpstream(): Promise<PushUpstream> {
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(req.url === '/healthz' ? '{"status":"OK"}' : '{}');
  });
  const io = new Server(server, { transports: ['websocket'] });
  let joins = 0;
  io.on('connection', (socket) => {
    socket.on('1', (data: { channelId?: unknown }) => {
      if (typeof data?.channelId !== 'string') return;
      joins++;
      void socket.join(data.channelId);
      socket.emit('channel_joined', { channelId: data.channelId, roomId: data.channelId, message: 'joined' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    joins: () => joins,
    broadcast(channelIds, text) {
      for (const channelId of channelIds) {
        io.to(channelId).emit('messageBroadcast', {
          id: randomUUID(),
          senderId: AGENT_ID,
          senderName: 'Purl',
          text,
          roomId: channelId,
          createdAt: Date.now(),
          source: 'agent_response',
        });
      }
    },
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}
