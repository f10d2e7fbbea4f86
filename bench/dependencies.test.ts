/**
 * One copy of idb (issue 10, item 5). workbox-expiration and workbox-background-sync ask
 * for idb ^7 while Purl uses 8; package.json's `overrides` makes every package share
 * Purl's, so a worker that imports any of them bundles one idb, not two.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));

describe('the worker’s dependencies', () => {
  it('hold one copy of idb, the version package.json names', () => {
    const manifest = readJson('package.json') as { dependencies: Record<string, string>; overrides: Record<string, string> };
    const lock = readJson('package-lock.json') as { packages: Record<string, { version: string }> };
    const copies = Object.entries(lock.packages).filter(([where]) => where === 'node_modules/idb' || where.endsWith('/node_modules/idb'));
    expect(copies.map(([where, entry]) => [where, entry.version])).toEqual([['node_modules/idb', manifest.dependencies['idb']]]);
    expect(manifest.overrides['idb']).toBe('$idb');
  });

  it('let workbox-expiration keep and expire its timestamps on that idb', async () => {
    globalThis.indexedDB = new IDBFactory();
    vi.stubGlobal('location', { href: 'http://purl.test/' });
    const { CacheTimestampsModel } = await import('workbox-expiration/models/CacheTimestampsModel.js');
    const model = new CacheTimestampsModel('purl-test');
    await model.setTimestamp('http://purl.test/old', 1_000);
    await model.setTimestamp('http://purl.test/new', 2_000);
    expect(await model.getTimestamp('http://purl.test/new')).toBe(2_000);
    expect(await model.expireEntries(0, 1)).toEqual(['http://purl.test/old']);
  });
});
