/**
 * Your own agent on the embedded server (issue 14), as a user runs it: `npm start`'s
 * program with ELIZA_CHARACTER and a provider key, a model server of our own standing in
 * for the provider, real Chromium. Also: bad character files stop the start with one
 * sentence, and the Anthropic and Ollama plugins are loaded and say in the chat when
 * their provider cannot be reached.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { freePort, startEmbeddedEliza } from '../server/eliza-process';
import { chatSessionId, countOnServer, escapeRegExp, openChat, postToAgent, typeMessage } from './helpers';
import { startOpenAiStub, stubReply } from './openai-stub';
import { launchPurl } from './launch';
import { root, TEST_CLIENT_ENV } from './stack';

const FAILURE = "The agent's model didn't answer";

/** Runs `npm start`'s program with `env` (and nothing else of ours); resolves once it serves. */
const launch = (env: Record<string, string>) => launchPurl('server/start.ts', env);

/** Runs `npm start`'s program until it exits; resolves its exit code and what it printed. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/start.ts'], {
    cwd: root,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

/** The agent's lines in the chat. */
const agentLines = (page: import('@playwright/test').Page) => page.locator('.chat-line[data-author="agent"] .memory-text');

test.describe('your own agent', () => {
  test('a character file and an OpenAI-compatible server: its replies in the chat, its failures said there, the key in no answer', async ({ page }) => {
    test.setTimeout(180_000);
    const key = `sk-purl-planted-${randomUUID()}`;
    const stub = await startOpenAiStub({ requireKey: key });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-own-agent-'));
    const second = path.join(dataDir, 'bo.json');
    fs.writeFileSync(second, JSON.stringify({ name: 'Bo', bio: 'A second agent, to show that several characters start.' }));
    const purl = await launch({
      ...TEST_CLIENT_ENV,
      PURL_DATA_DIR: dataDir,
      ELIZA_CHARACTER: `examples/ada.json,${second}`,
      OPENAI_API_KEY: key,
      OPENAI_BASE_URL: stub.url,
    });
    const answers: Array<{ url: string; text: string }> = [];
    page.on('response', (response) => {
      void response
        .text()
        .then(async (body) => answers.push({ url: response.url(), text: JSON.stringify(await response.allHeaders()) + body }))
        .catch(() => {
          /* a redirect or an aborted request has no body to search */
        });
    });
    try {
      // npm start says what answers for each agent, and never the key.
      expect(purl.output()).toMatch(
        /agent Ada \(\S+\) answers with gpt-5-mini \(small: gpt-5-nano\) from the OpenAI-compatible server at http:\/\/127\.0\.0\.1:\d+\/v1 \(@elizaos\/plugin-openai 1\.0\.11\)/,
      );
      expect(purl.output()).toMatch(/agent Bo \(\S+\) answers with/);
      expect(purl.output()).not.toContain(key);

      await openChat(page, purl.url);
      await expect(page.getByLabel('Agent').locator('option')).toHaveText(['Ada', 'Bo']);
      await expect(page.getByRole('heading', { name: 'Chat with Ada' })).toBeVisible();

      const question = `What is a loop? ${Date.now()}`;
      await typeMessage(page, question);
      await expect(agentLines(page).filter({ hasText: stubReply(question) })).toHaveCount(1);

      // The provider fails: a 429 with Retry-After (the plugin retries twice, then gives up).
      stub.setMode({ kind: 'fail', status: 429, retryAfterSeconds: 1 });
      const unlucky = `Are you there? ${Date.now()}`;
      await typeMessage(page, unlucky);
      await expect(agentLines(page).filter({ hasText: `${FAILURE}: the model provider is limiting requests (HTTP 429).` })).toHaveCount(1, { timeout: 30_000 });
      await expect(page.locator('.chat-line[data-author="user"] .memory-text', { hasText: unlucky })).toHaveCount(1);

      // Back: the next message is answered.
      stub.setMode({ kind: 'answer' });
      const again = `And now? ${Date.now()}`;
      await typeMessage(page, again);
      await expect(agentLines(page).filter({ hasText: stubReply(again) })).toHaveCount(1);

      // Each message was stored once, the one without an answer too (asked through the gateway, as the app does).
      const agents = (await (await fetch(`${purl.url}/api/agents`)).json()) as { data: { agents: Array<{ id: string; name: string }> } };
      const ada = agents.data.agents.find((agent) => agent.name === 'Ada')!;
      const memoriesUrl = `${purl.url}/api/agents/${ada.id}/memories?tableName=messages&includeEmbedding=false`;
      const memories = (await (await fetch(memoriesUrl)).json()) as { data: { memories: Array<{ entityId: string; content: { text?: string } }> } };
      for (const text of [question, unlucky, again]) {
        expect(memories.data.memories.filter((memory) => memory.entityId !== ada.id && memory.content.text === text)).toHaveLength(1);
      }

      // The key reached the provider, from ElizaOS only…
      expect(stub.requests.length).toBeGreaterThan(0);
      expect(stub.requests.every((request) => request.authorization === `Bearer ${key}`)).toBe(true);
      // …and no answer of the gateway carries it: what the browser got, and every route asked directly.
      const sessionId = await chatSessionId(page);
      const routes = [
        '/',
        '/index.html',
        '/sw.js',
        '/manifest.webmanifest',
        '/config.json',
        '/health',
        '/healthz',
        '/api/agents',
        `/api/agents/${ada.id}`,
        `/api/agents/${ada.id}/memories?tableName=messages&includeEmbedding=false`,
        `/api/messaging/sessions/${sessionId}/messages?limit=100`,
        '/api/system/env/local',
        '/api/server/status',
      ];
      for (const route of routes) {
        const response = await fetch(`${purl.url}${route}`);
        answers.push({ url: route, text: JSON.stringify([...response.headers]) + (await response.text()) });
      }
      expect(answers.length).toBeGreaterThan(routes.length);
      expect(answers.filter((answer) => answer.text.includes(key)).map((answer) => answer.url)).toEqual([]);
      await purl.stop();
      // Nor did ElizaOS keep it: not in its database (PGlite's files), not in its log.
      const kept = filesUnder(dataDir);
      expect(kept.some((file) => fs.readFileSync(file).includes('A second agent, to show'))).toBe(true); // the search can see what the database holds
      expect(kept.filter((file) => fs.readFileSync(file).includes(key))).toEqual([]);
    } finally {
      await purl.stop();
      await stub.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    // Nor is it in anything the build makes, built here with the key in its environment.
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-built-'));
    try {
      const built = await new Promise<number | null>((resolve) => {
        const vite = spawn(
          process.execPath,
          [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error'],
          {
            cwd: root,
            env: { ...process.env, OPENAI_API_KEY: key, ANTHROPIC_API_KEY: key },
            stdio: 'ignore',
          },
        );
        vite.on('close', resolve);
      });
      expect(built).toBe(0);
      const files = filesUnder(outDir);
      expect(files.length).toBeGreaterThan(3);
      expect(files.filter((file) => fs.readFileSync(file).includes(key))).toEqual([]);
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });

  test('a character file that is missing, unreadable as JSON, a folder or not a character, or a provider URL that is not one, stops npm start with one sentence', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-bad-character-'));
    try {
      const broken = path.join(dir, 'broken.json');
      fs.writeFileSync(broken, '{\n  "name": "Ada",\n}\n');
      const nameless = path.join(dir, 'nameless.json');
      fs.writeFileSync(nameless, JSON.stringify({ bio: 'Who am I?' }));
      const file = (name: string) => `^purl: The character file ${escapeRegExp(name)}`;
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ ELIZA_CHARACTER: path.join(dir, 'missing.json') }, new RegExp(`${file(path.join(dir, 'missing.json'))} does not exist\\.$`)],
        [{ ELIZA_CHARACTER: broken }, new RegExp(`${file(broken)} is not valid JSON: Expected double-quoted property name at line 3, column 1\\.$`)],
        [{ ELIZA_CHARACTER: dir }, new RegExp(`${file(dir)} is a folder, not a file\\.$`)],
        [{ ELIZA_CHARACTER: nameless }, new RegExp(`${file(nameless)} is not a valid ElizaOS character: "name" is missing\\.$`)],
        [{ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'localhost:8080/v1' }, /^purl: OPENAI_BASE_URL must use http or https, got "localhost:8080\/v1"\.$/],
      ];
      const runs = await Promise.all(cases.map(([env]) => runToExit({ ...env, PURL_DATA_DIR: path.join(dir, 'data') })));
      for (const [index, [, sentence]] of cases.entries()) {
        const { code, stdout, stderr } = runs[index]!;
        expect(code).not.toBe(0);
        expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(sentence)]);
        expect(stdout).not.toMatch(/ElizaOS|building/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const provider of [
    {
      name: 'Anthropic',
      plugin: '@elizaos/plugin-anthropic 1.5.12',
      env: (url: string) => ({ ANTHROPIC_API_KEY: `sk-ant-${randomUUID()}`, ANTHROPIC_BASE_URL: `${url}/v1` }),
    },
    { name: 'Ollama', plugin: '@elizaos/plugin-ollama 1.0.8', env: (url: string) => ({ OLLAMA_API_ENDPOINT: url }) },
  ]) {
    test(`${provider.name}: its plugin is loaded, and an unreachable provider is said in the chat`, async () => {
      test.setTimeout(90_000);
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `purl-${provider.name.toLowerCase()}-`));
      // A port nothing listens on: the provider is unreachable, and no request leaves the machine.
      const closed = `http://127.0.0.1:${await freePort()}`;
      const progress: string[] = [];
      const eliza = await startEmbeddedEliza({
        root,
        dataDir,
        characterFiles: [path.join(root, 'examples', 'ada.json')],
        modelEnv: provider.env(closed),
        onProgress: (line) => progress.push(line),
      });
      try {
        const said = progress.find((line) => line.startsWith('agent Ada'));
        expect(said).toContain(`at ${closed}`);
        expect(said).toContain(`(${provider.plugin})`);
        const server = { elizaUrl: eliza.url.href.replace(/\/$/, ''), agentId: eliza.agentId };
        const text = `Hello ${provider.name} ${Date.now()}`;
        const sessionId = await postToAgent(text, server);
        let said_: string | undefined;
        await expect
          .poll(
            async () => {
              const answer = await fetch(`${server.elizaUrl}/api/messaging/sessions/${sessionId}/messages?limit=20`);
              const { messages } = (await answer.json()) as { messages: Array<{ content: string; isAgent: boolean }> };
              said_ = messages.find((message) => message.isAgent)?.content;
              return said_;
            },
            { timeout: 45_000 },
          )
          .toMatch(new RegExp(`^${FAILURE}: `));
        expect(said_).toMatch(provider.name === 'Ollama' ? /the model provider reported an error\./ : /the model provider could not be reached\./);
        expect(await countOnServer(text, server)).toBe(1);
      } finally {
        await eliza.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});
