import { describe, expect, it } from 'vitest';
import { defaultConfig, resolveConfig } from '../../src/shared/config';
import { instanceCount } from '../cluster/settings';
import { cleanEnvironment } from '../eliza-process';
import { OptionsError as GatewayOptionsError, readGatewayOptions } from '../gateway/options';
import { readElizaSettings } from '../lifecycle';
import { isHostName } from './parsers';
import { documentedDefault, OptionsError, readSettings } from './read';
import { type Setting, SETTINGS } from './table';

const PUSH_KEY = Buffer.alloc(32, 7);
const UPSTREAM = { ELIZA_SERVER_URL: 'http://127.0.0.1:3000' };
const gateway = (env: Record<string, string>) => readGatewayOptions({ ...UPSTREAM, ...env }, undefined, { pushKey: PUSH_KEY }).options;

/** The sentence `readSettings` stops with for `env`, or undefined when it takes it. */
function refused(env: Record<string, string>): string | undefined {
  try {
    readSettings(env);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(OptionsError);
    return (error as Error).message;
  }
}

describe('the settings table', () => {
  it('is the one error type the gateway exports', () => {
    expect(GatewayOptionsError).toBe(OptionsError);
    expect(() => readSettings({ PORT: 'x' })).toThrowError(expect.objectContaining({ name: 'OptionsError', variable: 'PORT' }));
  });

  it('gives every default when nothing is set, and ignores variables it does not name', () => {
    const settings = readSettings({ PATH: '/usr/bin', HOME: '/root', SOMETHING_ELSE: 'whatever' });
    expect(settings).toMatchObject({
      PORT: 5174,
      HOST: '127.0.0.1',
      TRUST_PROXY: false,
      API_RATE_LIMIT_REQUESTS: 500,
      MEMORY_API_RATE_LIMIT_REQUESTS: 200,
      WS_MAX_CONNECTIONS_PER_IP: 10,
      GATEWAY_MAX_BODY_BYTES: 65_536,
      GATEWAY_UPSTREAM_TIMEOUT: 60_000,
      GATEWAY_MAX_JSON_BYTES: 67_108_864,
      GATEWAY_CACHE_MAX_BYTES: 67_108_864,
      PURL_SYNC_ROUTE: true,
      PURL_PUSH: true,
      PURL_SOCKET_SEND: true,
      PURL_SHARED_BUDGET: true,
      PURL_DATA_DIR: '.purl-data',
      PURL_DIST_DIR: 'dist',
      ELIZA_PORT: 0,
      ELIZA_LOG_LEVEL: 'warn',
      PURL_INSTANCES: 3,
    });
    for (const [name, setting] of Object.entries(SETTINGS) as Array<[keyof typeof settings, Setting<unknown>]>) {
      expect(settings[name], name).toEqual(setting.fallback);
    }
    expect(Object.keys(settings)).not.toContain('PATH');
  });

  it('takes an empty variable as unset', () => {
    expect(readSettings({ PORT: '', HOST: '', PURL_PUSH: '' })).toMatchObject({ PORT: 5174, HOST: '127.0.0.1', PURL_PUSH: true });
  });

  it('declares each variable once with a kind, the parts that read it and one line on what it does', () => {
    for (const [name, setting] of Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>) {
      expect(name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(setting.parts.length, name).toBeGreaterThan(0);
      expect(setting.description, name).not.toMatch(/\n/);
      expect(setting.description.length, name).toBeGreaterThan(5);
      expect(documentedDefault(setting), name).not.toBe('');
    }
    const internal = Object.entries(SETTINGS)
      .filter(([, setting]) => setting.internal)
      .map(([name]) => name);
    expect(internal).toEqual(['PURL_GATEWAY_SECRET', 'PURL_INSTANCE_NAME', 'PURL_DIST_DIR', 'ELIZA_HOST', 'PURL_ELIZA_STOCK', 'INIT_CWD', 'PURL_DEV_GATEWAY']);
  });
});

describe('a bad value stops the start with one sentence naming the variable, the value and what is allowed', () => {
  it.each([
    ['API_RATE_LIMIT_REQUESTS', 'abc', 'API_RATE_LIMIT_REQUESTS must be a whole number from 1 to 100000, got "abc".'],
    ['WS_MAX_CONNECTIONS_PER_IP', 'many', 'WS_MAX_CONNECTIONS_PER_IP must be a whole number from 1 to 10000, got "many".'],
    ['CIRCUIT_BREAKER_THRESHOLD', '-3', 'CIRCUIT_BREAKER_THRESHOLD must be a whole number from 1 to 1000, got "-3".'],
    ['ELIZA_PORT', 'x', 'ELIZA_PORT must be a port number from 0 to 65535, got "x".'],
    ['PURL_INSTANCES', '9', 'PURL_INSTANCES must be a whole number from 1 to 8, got "9".'],
  ])('an integer: %s=%s', (name, value, sentence) => {
    expect(refused({ [name]: value })).toBe(sentence);
  });

  it('a positive whole number (ms, bytes)', () => {
    expect(refused({ GATEWAY_UPSTREAM_TIMEOUT: '0' })).toBe('GATEWAY_UPSTREAM_TIMEOUT must be a positive whole number, got "0".');
    expect(refused({ GATEWAY_MAX_JSON_BYTES: '1.5' })).toBe('GATEWAY_MAX_JSON_BYTES must be a positive whole number, got "1.5".');
  });

  it('on or off', () => {
    expect(refused({ PURL_PUSH: 'maybe' })).toBe('PURL_PUSH must be "on" or "off", got "maybe".');
    expect(readSettings({ PURL_PUSH: 'OFF', PURL_SYNC_ROUTE: '0', PURL_SOCKET_SEND: 'true' })).toMatchObject({
      PURL_PUSH: false,
      PURL_SYNC_ROUTE: false,
      PURL_SOCKET_SEND: true,
    });
  });

  it('one of a list', () => {
    expect(refused({ ELIZA_LOG_LEVEL: 'loud' })).toBe(
      'ELIZA_LOG_LEVEL must be one of fatal, error, warn, info, log, progress, success, debug, trace, got "loud".',
    );
    expect(readSettings({ ELIZA_LOG_LEVEL: 'Debug' }).ELIZA_LOG_LEVEL).toBe('debug');
  });

  it('a URL, repeated without its password', () => {
    expect(refused({ ELIZA_SERVER_URL: 'ftp://x' })).toBe('ELIZA_SERVER_URL must use http or https, got "ftp://x".');
    expect(refused({ OPENAI_BASE_URL: 'localhost:8080' })).toBe('OPENAI_BASE_URL must use http or https, got "localhost:8080".');
    expect(refused({ POSTGRES_URL: 'mysql://eliza:pw@db/eliza' })).toBe('POSTGRES_URL must use postgres or postgresql, got "mysql://…@db/eliza".');
    expect(refused({ POSTGRES_URL: 'eliza@db' })).toBe(
      'POSTGRES_URL must be a postgres:// or postgresql:// URL such as postgres://user:password@127.0.0.1:5432/eliza, got "…@db".',
    );
    // The embedded server gets the URL as it was typed.
    expect(readSettings({ POSTGRES_URL: 'postgresql://eliza:pw@db.internal:5432/eliza' }).POSTGRES_URL).toBe('postgresql://eliza:pw@db.internal:5432/eliza');
  });

  it('a host to listen on', () => {
    expect(refused({ HOST: 'purl lan' })).toBe('HOST must be an IP address or a host name such as purl.lan, got "purl lan".');
    expect(refused({ HOST: '-purl.lan' })).toMatch(/^HOST must be an IP address or a host name/);
    expect(['0.0.0.0', '::', '192.168.1.20', 'localhost', 'purl.lan'].map((host) => readSettings({ HOST: host }).HOST)).toEqual([
      '0.0.0.0',
      '::',
      '192.168.1.20',
      'localhost',
      'purl.lan',
    ]);
  });

  it('a list of host names', () => {
    expect(refused({ PURL_ALLOWED_HOSTS: 'purl.lan,http://evil.example' })).toBe(
      'PURL_ALLOWED_HOSTS must be host names or IP addresses separated by commas, such as purl.lan,purl.example, got "purl.lan,http://evil.example".',
    );
    expect(readSettings({ PURL_ALLOWED_HOSTS: ' A.example , [::1]:8443,,b.example:80' }).PURL_ALLOWED_HOSTS).toEqual(['a.example', '::1', 'b.example']);
    expect([isHostName('a'.repeat(64)), isHostName('x_y.lan'), isHostName('purl.lan.')]).toEqual([false, false, true]);
  });

  it('a list of proxies', () => {
    expect(refused({ TRUST_PROXY: 'true' })).toMatch(
      /^TRUST_PROXY must be addresses, .* \(not true, which would let any client forge its address\), got "true"\.$/,
    );
    expect(refused({ TRUST_PROXY: 'my-proxy' })).toMatch(/^TRUST_PROXY must be addresses, subnets, .*, got "my-proxy"\.$/);
  });

  it('a list of paths', () => {
    expect(refused({ ELIZA_CHARACTER: ' , ' })).toBe('ELIZA_CHARACTER must name at least one file, comma-separated, got " , ".');
    expect(readSettings({ ELIZA_CHARACTER: 'a.json, ,b.json' }).ELIZA_CHARACTER).toEqual(['a.json', 'b.json']);
  });

  it('a secret, never repeated', () => {
    expect(refused({ PURL_PUSH_SECRET: 'short' })).toBe('PURL_PUSH_SECRET must be at least 32 characters long, got a value of 5 characters.');
  });

  it('a path or free text is taken as given', () => {
    expect(readSettings({ PURL_DATA_DIR: '/tmp/purl data', PURL_INSTANCE_NAME: 'gateway 1' })).toMatchObject({
      PURL_DATA_DIR: '/tmp/purl data',
      PURL_INSTANCE_NAME: 'gateway 1',
    });
  });
});

describe('the readers take their settings from the table', () => {
  it('the gateway stops on any bad value, a client one included', () => {
    expect(() => gateway({ API_RATE_LIMIT_REQUESTS: 'abc' })).toThrowError('API_RATE_LIMIT_REQUESTS must be a whole number from 1 to 100000, got "abc".');
    expect(() => gateway({ HOST: 'purl lan' })).toThrowError(/^HOST must be/);
    expect(() => gateway({ PURL_ALLOWED_HOSTS: 'a b' })).toThrowError(/^PURL_ALLOWED_HOSTS must be/);
    expect(() => gateway({ FRONTEND_REQUEST_TIMEOUT: '999' })).toThrowError('FRONTEND_REQUEST_TIMEOUT must be a whole number from 1000 to 600000, got "999".');
  });

  it('serves every client setting that is set at /config.json, and no other', () => {
    const off = { PURL_SYNC_ROUTE: 'off', PURL_PUSH: 'off' };
    expect(gateway(off).clientConfig).toEqual({});
    expect(resolveConfig(gateway(off).clientConfig, false)).toEqual(defaultConfig);
    const options = gateway({
      ...off,
      FRONTEND_POLL_INTERVAL: '2000',
      FRONTEND_SESSION_POLL_INTERVAL: '1000',
      FRONTEND_CACHE_TTL: '500',
      FRONTEND_MAX_CONCURRENT: '2',
      MESSAGE_MIN_INTERVAL: '1500',
      CIRCUIT_BREAKER_THRESHOLD: '3',
      CIRCUIT_BREAKER_TIMEOUT: '5000',
      FRONTEND_REQUEST_TIMEOUT: '3000',
    });
    expect(options.clientConfig).toEqual({
      memoriesPollMs: 2000,
      chatPollMs: 1000,
      cacheTtlMs: 500,
      maxConcurrent: 2,
      messageMinIntervalMs: 1500,
      breakerThreshold: 3,
      breakerTimeoutMs: 5000,
      requestTimeoutMs: 3000,
    });
  });

  it('keeps the request timeout at one second or more', () => {
    expect(gateway({ PURL_SYNC_ROUTE: 'off', PURL_PUSH: 'off', FRONTEND_REQUEST_TIMEOUT: '1000' }).clientConfig).toEqual({ requestTimeoutMs: 1000 });
    expect(defaultConfig.requestTimeoutMs).toBe(30_000);
  });

  it('the embedded ElizaOS stops on a bad ELIZA_PORT or log level, and takes good ones', async () => {
    await expect(readElizaSettings({ ELIZA_PORT: 'x' })).rejects.toThrowError('ELIZA_PORT must be a port number from 0 to 65535, got "x".');
    await expect(readElizaSettings({ ELIZA_LOG_LEVEL: 'loud' })).rejects.toThrowError(OptionsError);
    // A server named instead: nothing embedded, but its settings are still checked.
    await expect(readElizaSettings({ ...UPSTREAM, ELIZA_PORT: '70000' })).rejects.toThrowError(/^ELIZA_PORT must be/);
    expect(await readElizaSettings(UPSTREAM)).toBeUndefined();
    expect(await readElizaSettings({ ELIZA_PORT: '3901', ELIZA_LOG_LEVEL: 'info' })).toMatchObject({ port: 3901, logLevel: 'info', dataDir: '.purl-data' });
    expect(await readElizaSettings({})).toMatchObject({ port: 0, logLevel: 'warn', characterFiles: undefined, postgresUrl: undefined });
  });

  it('hands the log level to ElizaOS', () => {
    const base = { port: 1, dataDir: '/d', secret: 's', stock: false, characterFiles: undefined, modelEnv: {} };
    expect(cleanEnvironment({ ...base, logLevel: 'debug' })['LOG_LEVEL']).toBe('debug');
    expect(cleanEnvironment(base)['LOG_LEVEL']).toBe('warn');
  });

  it('the cluster counts its instances by the table', () => {
    expect([instanceCount(undefined), instanceCount('8')]).toEqual([3, 8]);
    expect(() => instanceCount('many')).toThrowError('PURL_INSTANCES must be a whole number from 1 to 8, got "many".');
  });
});
