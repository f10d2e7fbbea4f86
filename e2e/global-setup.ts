/**
 * Starts the real stack once per test run: a fresh embedded ElizaOS (seeded on first
 * start) in a temporary folder, and the gateway in front of it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, needsBuild } from '../server/build';
import { startEmbeddedEliza } from '../server/eliza-process';
import { root, startExtraGateway, type StackInfo } from './stack';

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (needsBuild(root)) await build(root);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-e2e-'));
  const eliza = await startEmbeddedEliza({ root, dataDir, onProgress: (line) => console.log(`[eliza] ${line}`) });
  const info: StackInfo = { baseUrl: '', elizaUrl: eliza.url.href.replace(/\/$/, ''), agentId: eliza.agentId, gatewaySecret: eliza.gatewaySecret, dataDir };
  process.env['PURL_E2E_STACK'] = JSON.stringify(info);
  const gateway = await startExtraGateway();
  info.baseUrl = gateway.url;
  process.env['PURL_E2E_STACK'] = JSON.stringify(info);
  return async () => {
    await gateway.close();
    await eliza.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
