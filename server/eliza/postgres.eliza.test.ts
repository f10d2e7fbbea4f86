/**
 * The embedded ElizaOS on a real PostgreSQL (POSTGRES_URL; Debian's postgresql with the
 * vector extension, a throwaway cluster) through the real gateway: a session, a message
 * and the agent's reply; what was said is still there after ElizaOS restarts; nothing is
 * written to PGlite; the database URL and its password reach no answer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgresServer } from '../cluster/postgres-server';
import { type EmbeddedEliza, startEmbeddedEliza } from '../eliza-process';
import { type Gateway, startGateway } from '../gateway/app';
import { readGatewayOptions } from '../gateway/options';
import { ask, makeDist, TEST_PEOPLE, TEST_PUSH_KEY } from '../gateway/test-kit';
import { parsePostgresUrl } from './config';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const json = { 'Content-Type': 'application/json' };

describe('POSTGRES_URL', () => {
  it('takes a postgres:// or postgresql:// URL, and refuses anything else with one sentence', () => {
    expect(parsePostgresUrl(undefined)).toBeUndefined();
    expect(parsePostgresUrl('')).toBeUndefined();
    expect(parsePostgresUrl('postgresql://eliza:pw@db.internal:5432/eliza')).toBe('postgresql://eliza:pw@db.internal:5432/eliza');
    expect(() => parsePostgresUrl('mysql://db/eliza')).toThrowError('POSTGRES_URL must start with postgres:// or postgresql://, but it starts with mysql://.');
    expect(() => parsePostgresUrl('eliza@db')).toThrowError(
      /^POSTGRES_URL must be a URL such as postgres:\/\/user:password@127\.0\.0\.1:5432\/eliza, but it is not one\.$/,
    );
  });
});

describe('the embedded ElizaOS on PostgreSQL, through the gateway', { timeout: 120_000 }, () => {
  let postgres: PostgresServer;
  let dataDir: string;
  let eliza: EmbeddedEliza | undefined;
  let gateway: Gateway | undefined;

  const start = async () => {
    eliza = await startEmbeddedEliza({ root, dataDir, postgresUrl: postgres.url });
    const { options } = readGatewayOptions({ PORT: '0', PURL_DIST_DIR: makeDist(), PURL_GATEWAY_SECRET: eliza.gatewaySecret, PURL_PUSH: 'off' }, eliza.url, {
      pushKey: TEST_PUSH_KEY,
    });
    gateway = await startGateway(options, { people: TEST_PEOPLE });
    return { eliza, gateway };
  };
  const stop = async () => {
    await gateway?.close();
    await eliza?.stop();
    gateway = undefined;
    eliza = undefined;
  };

  beforeAll(async () => {
    postgres = await startPostgresServer();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-pg-eliza-'));
  });
  afterAll(async () => {
    await stop();
    await postgres?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('talks, keeps what was said across a restart, writes no PGlite database, and shows the URL to no one', async () => {
    const first = await start();
    const userId = '5c0ffee0-0000-4000-8000-000000000001';
    const session = await ask(first.gateway.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ agentId: first.eliza.agentId, userId }),
    });
    expect(session.status).toBe(201);
    const { sessionId } = session.json() as { sessionId: string };
    const text = `Stored in PostgreSQL ${Date.now()}`;
    const posted = await ask(first.gateway.url, `/api/messaging/sessions/${sessionId}/messages`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content: text }),
    });
    expect(posted.status).toBe(201);
    const replied = async (gatewayUrl: string) => {
      const answer = await ask(gatewayUrl, `/api/messaging/sessions/${sessionId}/messages?limit=50`);
      const { messages } = answer.json() as { messages: { content: string; isAgent: boolean }[] };
      return messages.some((message) => message.isAgent && message.content.includes(`"${text}"`));
    };
    for (let tries = 0; tries < 100 && !(await replied(first.gateway.url)); tries++) await sleep(100);
    expect(await replied(first.gateway.url)).toBe(true);

    // The URL and its password are in no answer: not the agent's record (where plugin-sql would have wanted it), not its settings.
    const password = new URL(postgres.url).password;
    // (The gateway serves the agent list; ElizaOS itself, on loopback, the whole record.)
    for (const url of [`${first.gateway.url}/api/agents`, `${first.eliza.url.origin}/api/agents/${first.eliza.agentId}`]) {
      const body = await (await fetch(url)).text();
      expect(body).toContain(first.eliza.agentId);
      expect(body).not.toContain(password);
      expect(body).not.toContain('POSTGRES_URL');
    }
    // PGlite was never opened: ElizaOS's data folder holds no database of its own.
    const pglite = path.join(dataDir, 'eliza');
    const files = fs.existsSync(pglite) ? fs.readdirSync(pglite, { recursive: true }).map(String) : [];
    expect(files.filter((file) => /PG_VERSION|\.db$|base\//.test(file))).toEqual([]);

    await stop();
    const again = await start();
    // The same agent, its memory of the message, from PostgreSQL.
    expect(again.eliza.agentId).toBe(first.eliza.agentId);
    const memories = await ask(again.gateway.url, `/api/agents/${again.eliza.agentId}/memories?tableName=messages&includeEmbedding=false`);
    expect(memories.status).toBe(200);
    const texts = (memories.json() as { data: { memories: { content: { text?: string } }[] } }).data.memories.map((memory) => memory.content.text);
    expect(texts).toContain(text);
  });
});
