import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HAPROXY_CONFIG, instanceCount, MAX_INSTANCES } from './settings';

describe('npm run cluster settings', () => {
  it('runs 3 gateway instances unless PURL_INSTANCES says 1 to 8, and stops with a sentence on anything else', () => {
    expect([undefined, '', '1', '8'].map(instanceCount)).toEqual([3, 3, 1, MAX_INSTANCES]);
    for (const bad of ['0', '9', '2.5', 'three', '-1']) {
      expect(() => instanceCount(bad)).toThrowError(`PURL_INSTANCES must be a whole number from 1 to 8, got "${bad}".`);
    }
  });
});

describe('the shipped HAProxy configuration', () => {
  const config = fs.readFileSync(HAPROXY_CONFIG, 'utf8');

  it('has a server line for each instance the runner may start, and checks each on /healthz, which never waits on ElizaOS', () => {
    const servers = [...config.matchAll(/^\.if defined\(PURL_GATEWAY_(\d)\)\n\s+server gateway(\d) "\$\{PURL_GATEWAY_(\d)\}"\n\.endif$/gm)];
    expect(servers.map((match) => [match[1], match[2], match[3]])).toEqual(Array.from({ length: MAX_INSTANCES }, (_, i) => Array(3).fill(String(i + 1))));
    expect(config).toMatch(/http-check send meth GET uri \/healthz /);
    expect(config).not.toMatch(/shutdown-sessions/);
  });

  it('is valid for HAProxy itself, with one instance and with all', () => {
    for (const count of [1, MAX_INSTANCES]) {
      const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], PURL_ENTRY_BIND: '127.0.0.1:18080' };
      for (let i = 1; i <= count; i++) env[`PURL_GATEWAY_${i}`] = `127.0.0.1:${18080 + i}`;
      const checked = spawnSync('haproxy', ['-c', '-f', HAPROXY_CONFIG], { env, encoding: 'utf8' });
      expect(`${checked.stdout}${checked.stderr}`).toMatch(/Configuration file is valid/);
      expect(checked.status).toBe(0);
    }
  });
});
