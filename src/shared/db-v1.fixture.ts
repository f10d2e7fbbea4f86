/**
 * For tests: Purl's database as version 1 shipped (no by-room index, no chat or outbox),
 * the old schema an old tab or an old install still has open.
 */
import { openDB } from 'idb';
import { DB_NAME } from './db';

export function openVersion1Database() {
  return openDB(DB_NAME, 1, {
    upgrade(db) {
      db.createObjectStore('agents', { keyPath: 'id' });
      db.createObjectStore('memories', { keyPath: 'id' }).createIndex('by-agent', ['agentId', 'createdAt']);
      db.createObjectStore('meta');
    },
  });
}
