import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { launchPurl } from './launch';

/** Starts `npm start`'s program on its own data folder; resolves with its URL once it says it is running. */
const startPurl = (dataDir: string) => launchPurl('server/start.ts', { PURL_DATA_DIR: dataDir });

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)])
      .toString()
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm start serves the app and the API on one origin, and Ctrl-C or a kill leaves no process behind', async () => {
  test.setTimeout(120_000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-start-'));
  try {
    const first = await startPurl(dataDir);
    expect(first.output()).toMatch(/ElizaOS is ready/);
    expect((await fetch(`${first.url}/`)).status).toBe(200);
    const agents = (await (await fetch(`${first.url}/api/agents`)).json()) as { data: { agents: { name: string }[] } };
    expect(agents.data.agents.map((agent) => agent.name)).toEqual(['Purl']);
    const [eliza] = childrenOf(first.child.pid!);
    expect(eliza).toBeDefined();
    const exited = new Promise<number | null>((resolve) => first.child.on('exit', resolve));
    first.child.kill('SIGINT'); // what Ctrl-C sends
    expect(await exited).toBe(0);
    await expect.poll(() => isAlive(eliza!)).toBe(false);

    // Killed outright, the launcher cannot clean up: ElizaOS notices and stops by itself.
    const second = await startPurl(dataDir);
    expect(second.output()).not.toMatch(/seeding/); // seeded once, on the first start only
    const [orphan] = childrenOf(second.child.pid!);
    second.child.kill('SIGKILL');
    await expect.poll(() => isAlive(orphan!), { timeout: 15_000 }).toBe(false);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
