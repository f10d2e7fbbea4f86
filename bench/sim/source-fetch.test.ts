import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchFrom, loopbackAddress } from './source-fetch';

let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/cookie') {
      // Sets one cookie, and says which it was sent.
      res.setHeader('Set-Cookie', 'purl_id=abc; Path=/; HttpOnly');
      res.end(req.headers.cookie ?? '');
      return;
    }
    res.end(req.socket.remoteAddress);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

describe('fetch from a chosen source address', () => {
  it('connects from the address it was given, so the server sees distinct users', async () => {
    for (const index of [0, 1, 251]) {
      const source = fetchFrom(loopbackAddress(index));
      expect(await (await source.fetch(new Request(url))).text()).toBe(loopbackAddress(index));
      await source.close();
    }
  });

  it('counts the bytes on its connections, headers and body as they crossed the wire', async () => {
    const source = fetchFrom(loopbackAddress(7));
    const body = await (await source.fetch(new Request(url))).text();
    const { received, sent } = source.wire();
    // The answer's status line and headers come on top of its body; the request had none.
    expect(received).toBeGreaterThan(body.length + 'HTTP/1.1 200 OK\r\n'.length);
    expect(sent).toBeGreaterThan('GET / HTTP/1.1\r\n'.length);
    await source.close();
    expect(source.wire()).toEqual({ received, sent });
  });

  it('keeps its cookies, as a browser profile does, and no other browser gets them', async () => {
    const one = fetchFrom(loopbackAddress(3));
    const other = fetchFrom(loopbackAddress(4));
    expect(await (await one.fetch(new Request(`${url}cookie`))).text()).toBe('');
    expect(await (await one.fetch(new Request(`${url}cookie`))).text()).toBe('purl_id=abc');
    expect(await (await other.fetch(new Request(`${url}cookie`))).text()).toBe('');
    await one.close();
    await other.close();
  });

  it('spreads user indexes over distinct loopback addresses', () => {
    expect([loopbackAddress(0), loopbackAddress(249), loopbackAddress(250)]).toEqual(['127.0.1.1', '127.0.1.250', '127.0.2.1']);
  });
});
