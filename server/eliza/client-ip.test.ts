import type { IncomingHttpHeaders } from 'node:http';
import type { Request, Response } from 'express';
import { isIP } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import {
  GATEWAY_UNKNOWN_CLIENT_IP,
  INTERNAL_CLIENT_IP,
  internalKey,
  UNKNOWN_PEER_IP,
  createClientIpMiddleware,
  isLoopback,
  normalizeIp,
  resolveClientIp,
} from './client-ip';

const SECRET = 'correct horse battery staple';

function fromGateway(xff: string | undefined, peer = '127.0.0.1'): string {
  const headers: IncomingHttpHeaders = { 'x-purl-gateway': SECRET };
  if (xff !== undefined) headers['x-forwarded-for'] = xff;
  return resolveClientIp({ peer, headers, gatewaySecret: SECRET });
}

describe('resolveClientIp', () => {
  it('trusts the forwarded address of a loopback request with the right secret', () => {
    expect(fromGateway('203.0.113.7')).toBe('203.0.113.7');
    expect(fromGateway('2001:db8::1')).toBe('2001:db8::1');
    expect(fromGateway(' 198.51.100.4 ')).toBe('198.51.100.4');
  });

  it('accepts the gateway over every loopback form', () => {
    for (const peer of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      expect(fromGateway('203.0.113.7', peer)).toBe('203.0.113.7');
    }
  });

  it('gives a local browser behind the gateway (XFF 127.0.0.1) its own bucket, not the agent’s', () => {
    expect(fromGateway('127.0.0.1')).toBe('127.0.0.1');
    expect(fromGateway('127.0.0.1')).not.toBe(INTERNAL_CLIENT_IP);
  });

  it('strips ::ffff: from IPv4-mapped forwarded addresses, so the /56 IPv6 mask cannot merge them', () => {
    expect(fromGateway('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(fromGateway('::FFFF:127.0.0.9')).toBe('127.0.0.9');
  });

  it('gives loopback requests with a wrong or missing secret the internal identity', () => {
    const xff = { 'x-forwarded-for': '203.0.113.7' };
    expect(resolveClientIp({ peer: '127.0.0.1', headers: xff, gatewaySecret: SECRET })).toBe(INTERNAL_CLIENT_IP);
    expect(resolveClientIp({ peer: '127.0.0.1', headers: { ...xff, 'x-purl-gateway': 'wrong' }, gatewaySecret: SECRET })).toBe(INTERNAL_CLIENT_IP);
    expect(resolveClientIp({ peer: '::1', headers: { ...xff, 'x-purl-gateway': `${SECRET}x` }, gatewaySecret: SECRET })).toBe(INTERNAL_CLIENT_IP);
  });

  it('trusts nobody when no secret is configured, not even an empty header', () => {
    for (const gatewaySecret of [undefined, '']) {
      const headers = { 'x-purl-gateway': gatewaySecret ?? '', 'x-forwarded-for': '203.0.113.7' };
      expect(resolveClientIp({ peer: '127.0.0.1', headers, gatewaySecret })).toBe(INTERNAL_CLIENT_IP);
    }
  });

  it('ignores the headers of a non-loopback peer, even with the right secret', () => {
    const headers = { 'x-purl-gateway': SECRET, 'x-forwarded-for': '203.0.113.7' };
    expect(resolveClientIp({ peer: '192.0.2.10', headers, gatewaySecret: SECRET })).toBe('192.0.2.10');
    expect(resolveClientIp({ peer: '::ffff:192.0.2.10', headers, gatewaySecret: SECRET })).toBe('192.0.2.10');
    expect(resolveClientIp({ peer: '2001:db8::5', headers, gatewaySecret: SECRET })).toBe('2001:db8::5');
  });

  it('does not trust a forwarded list, garbage, or nothing, and keeps such requests out of the agent’s bucket', () => {
    for (const xff of ['203.0.113.7, 198.51.100.4', '203.0.113.7,127.0.0.1', 'unknown', '', '300.1.1.1', undefined]) {
      expect(fromGateway(xff)).toBe(GATEWAY_UNKNOWN_CLIENT_IP);
    }
  });

  it('refuses the reserved identities as forwarded addresses', () => {
    expect(fromGateway(INTERNAL_CLIENT_IP)).toBe(GATEWAY_UNKNOWN_CLIENT_IP);
    expect(fromGateway(`::ffff:${INTERNAL_CLIENT_IP}`)).toBe(GATEWAY_UNKNOWN_CLIENT_IP);
    expect(fromGateway(UNKNOWN_PEER_IP)).toBe(GATEWAY_UNKNOWN_CLIENT_IP);
  });

  it('ignores a repeated secret header (Node makes it an array)', () => {
    const headers = { 'x-purl-gateway': [SECRET, SECRET], 'x-forwarded-for': '203.0.113.7' } as IncomingHttpHeaders;
    expect(resolveClientIp({ peer: '127.0.0.1', headers, gatewaySecret: SECRET })).toBe(INTERNAL_CLIENT_IP);
  });

  it('gives a request without a peer address a valid placeholder', () => {
    expect(resolveClientIp({ peer: undefined, headers: {}, gatewaySecret: SECRET })).toBe(UNKNOWN_PEER_IP);
  });
});

describe('address helpers', () => {
  it('recognises loopback addresses only', () => {
    expect(['127.0.0.1', '127.255.255.254', '::1', '::ffff:127.0.0.1'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['128.0.0.1', '10.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1'].map(isLoopback)).toEqual([false, false, false, false, false]);
  });

  it('normalises IPv4-mapped addresses only', () => {
    expect(normalizeIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeIp('::ffff:abcd')).toBe('::ffff:abcd');
    expect(normalizeIp('2001:db8::1')).toBe('2001:db8::1');
  });
});

describe('internal keys', () => {
  it('spread the agent’s own calls over 256 distinct /56 networks, cycling', () => {
    const keys = Array.from({ length: 256 }, (_, n) => internalKey(n));
    expect(new Set(keys).size).toBe(256);
    expect(keys.every((key) => isIP(key) === 6)).toBe(true);
    // The limiter keys IPv6 by its first 56 bits: these differ in exactly those bits.
    expect(new Set(keys.map((key) => key.split(':').slice(0, 4).join(':'))).size).toBe(256);
    expect(internalKey(256)).toBe(internalKey(0));
  });

  it('cannot be claimed by a client through X-Forwarded-For', () => {
    expect(resolveClientIp({ peer: '127.0.0.1', headers: { 'x-purl-gateway': SECRET, 'x-forwarded-for': internalKey(7) }, gatewaySecret: SECRET })).toBe(
      GATEWAY_UNKNOWN_CLIENT_IP,
    );
  });
});

describe('createClientIpMiddleware', () => {
  function run(peer: string, headers: IncomingHttpHeaders) {
    const req = { socket: { remoteAddress: peer }, headers: { ...headers } } as unknown as Request;
    // Express 5 puts `ip` on the request prototype as a getter; the middleware must shadow it.
    Object.setPrototypeOf(req, {
      get ip() {
        return 'from-prototype';
      },
    });
    const next = vi.fn<() => void>();
    createClientIpMiddleware({ gatewaySecret: SECRET })(req, {} as Response, next);
    return { req, next };
  }

  it('sets req.ip, removes the secret and forwarding headers, and calls next', () => {
    const { req, next } = run('127.0.0.1', {
      'x-purl-gateway': SECRET,
      'x-forwarded-for': '127.0.0.9',
      forwarded: 'for=127.0.0.9',
      accept: 'application/json',
    });
    expect(req.ip).toBe('127.0.0.9');
    expect(req.headers).toEqual({ accept: 'application/json' });
    expect(next).toHaveBeenCalledOnce();
  });

  it('gives untrusted loopback requests an internal key and still strips the headers', () => {
    const { req } = run('127.0.0.1', { 'x-purl-gateway': 'nope', 'x-forwarded-for': '127.0.0.9' });
    expect(req.ip).toMatch(/^fd00:7075:726c:[0-9a-f]{2}00::1$/);
    expect(req.headers['x-purl-gateway']).toBeUndefined();
    expect(req.headers['x-forwarded-for']).toBeUndefined();
  });
});
