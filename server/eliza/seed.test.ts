import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SEED_CONVERSATIONS, SEED_MARKER_FILE, seedConversationsOnce } from './seed';

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'purl-seed-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** A port on which nothing listens any more. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('seedConversationsOnce', () => {
  it('does nothing, not even a request, when the marker exists', async () => {
    await writeFile(path.join(dataDir, SEED_MARKER_FILE), '{}');
    const onProgress = vi.fn();
    const seeded = await seedConversationsOnce({
      baseUrl: await closedPortUrl(),
      agentId: '00000000-0000-4000-8000-000000000000',
      authToken: undefined,
      dataDir,
      onProgress,
    });
    expect(seeded).toBe(false);
    expect(onProgress).toHaveBeenCalledWith('conversations already seeded');
  });

  it('throws and writes no marker when the server cannot be reached', async () => {
    await expect(
      seedConversationsOnce({
        baseUrl: await closedPortUrl(),
        agentId: '00000000-0000-4000-8000-000000000000',
        authToken: undefined,
        dataDir,
        onProgress: () => {},
      }),
    ).rejects.toThrow();
    expect(existsSync(path.join(dataDir, SEED_MARKER_FILE))).toBe(false);
  });

  it('seeds three short conversations with distinct users', () => {
    expect(SEED_CONVERSATIONS).toHaveLength(3);
    expect(new Set(SEED_CONVERSATIONS.map((conversation) => conversation.userId)).size).toBe(3);
    for (const conversation of SEED_CONVERSATIONS) {
      expect(conversation.messages.length).toBeGreaterThanOrEqual(2);
      expect(conversation.messages.length).toBeLessThanOrEqual(3);
    }
  });
});
