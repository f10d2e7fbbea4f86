/**
 * One shard of the push fan-out bench's subscribers, forked by bench/push/bench.ts: a
 * process of its own, so that the client ends of the connections (their sockets, their
 * parsing) neither share the server's event loop nor count in its memory. It opens the
 * streams it is given (each from its loopback address, a few at a time), waits for each
 * stream's first event, and then, for each round, notes when each stream received that
 * round's text.
 */
import http from 'node:http';
import { type ClientStream, type FromClients, preciseNow, type ToClients } from './protocol';

const send = (message: FromClients) => process.send?.(message);

interface Open {
  request: http.ClientRequest;
  /** The end of what arrived so far, so a text split across two chunks is still found. */
  tail: string;
  arrivedAt?: number;
}

const streams: Open[] = [];
let expected: string | undefined;
let onArrival: (() => void) | undefined;

/** Opens one stream; resolves once its first event came, or with the reason it did not. */
function openStream(url: string, stream: ClientStream): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = http.request(new URL(stream.path, url), { headers: { Accept: 'text/event-stream' }, localAddress: stream.from, agent: false });
    const open: Open = { request, tail: '' };
    request.on('error', (error) => resolve(error.message));
    request.on('response', (res) => {
      if (res.statusCode !== 200) {
        resolve(`status ${res.statusCode}`);
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let first = true;
      res.on('data', (chunk: string) => {
        if (first && chunk.includes('\n\n')) {
          first = false;
          streams.push(open);
          resolve(undefined);
        }
        if (expected !== undefined && open.arrivedAt === undefined && (open.tail + chunk).includes(expected)) {
          open.arrivedAt = preciseNow();
          onArrival?.();
        }
        open.tail = chunk.slice(-64);
      });
    });
    request.end();
  });
}

async function openAll(url: string, all: readonly ClientStream[], concurrency: number): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < all.length) {
      const failure = await openStream(url, all[next++]!);
      if (failure !== undefined) failures.push(failure);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
}

function expect(text: string, timeoutMs: number): void {
  for (const open of streams) delete open.arrivedAt;
  expected = text;
  let waiting = streams.length;
  const done = () => {
    clearTimeout(timer);
    onArrival = undefined;
    expected = undefined;
    const at = streams.flatMap((open) => (open.arrivedAt === undefined ? [] : [open.arrivedAt]));
    send({ type: 'arrived', at, missing: streams.length - at.length });
  };
  const timer = setTimeout(done, timeoutMs);
  onArrival = () => {
    if (--waiting === 0) done();
  };
  send({ type: 'expecting' });
  if (waiting === 0) done();
}

process.on('message', (message: ToClients) => {
  switch (message.type) {
    case 'open':
      void openAll(message.url, message.streams, message.concurrency).then((failures) => send({ type: 'opened', opened: streams.length, failures }));
      break;
    case 'expect':
      expect(message.text, message.timeoutMs);
      break;
    case 'close':
      for (const open of streams) open.request.destroy();
      process.exit(0);
      break;
    default: {
      const never: never = message;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});
// The bench ends this process; it must not outlive a bench that died.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
