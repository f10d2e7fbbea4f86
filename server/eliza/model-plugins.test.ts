import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ModelType } from '@elizaos/core';
import { describe, expect, it } from 'vitest';
import { characterFor, modelPlugins, OLLAMA_FAILURE_ANSWER, pluginVersion, SESSION_SETTINGS } from './model-plugins';
import { chooseModel } from './model-provider';

const names = async (env: NodeJS.ProcessEnv) => (await modelPlugins(chooseModel(env))).map((plugin) => plugin.name);

describe('modelPlugins', () => {
  it('gives the local model when no provider is set', async () => {
    expect(await names({})).toEqual(['purl-local-model']);
  });

  it('loads the pinned provider plugins on this Node, each with the conversation plugin', async () => {
    expect(await names({ OPENAI_API_KEY: 'k' })).toEqual(['openai', 'purl-conversation']);
    // Anthropic has no embeddings: the local ones size ElizaOS's vectors.
    expect(await names({ ANTHROPIC_API_KEY: 'k' })).toEqual(['anthropic', 'purl-local-embedding', 'purl-conversation']);
    expect(await names({ OLLAMA_API_ENDPOINT: 'http://127.0.0.1:9' })).toEqual(['ollama', 'purl-conversation']);
  });

  it('gives each provider the text models a reply needs', async () => {
    for (const env of [{ OPENAI_API_KEY: 'k' }, { ANTHROPIC_API_KEY: 'k' }, { OLLAMA_API_ENDPOINT: 'http://127.0.0.1:9' }]) {
      const models = Object.assign({}, ...(await modelPlugins(chooseModel(env))).map((plugin) => plugin.models ?? {}));
      expect(Object.keys(models)).toEqual(expect.arrayContaining([ModelType.TEXT_LARGE, ModelType.TEXT_SMALL, ModelType.TEXT_EMBEDDING]));
    }
  });

  it('knows the sentence plugin-ollama answers instead of throwing', () => {
    // The e2e suite sees it turned into the chat's notice; here, that the pinned plugin still says it.
    const manifest = createRequire(import.meta.url).resolve('@elizaos/plugin-ollama/package.json');
    const source = readFileSync(path.join(path.dirname(manifest), 'dist', 'index.js'), 'utf8');
    expect(source).toContain(`return "${OLLAMA_FAILURE_ANSWER}";`);
  });
});

describe('pluginVersion', () => {
  it('reads the installed, pinned versions', () => {
    expect(pluginVersion('@elizaos/plugin-openai')).toBe('1.0.11');
    expect(pluginVersion('@elizaos/plugin-anthropic')).toBe('1.5.12');
    expect(pluginVersion('@elizaos/plugin-ollama')).toBe('1.0.8');
    expect(pluginVersion('@elizaos/not-there')).toBeUndefined();
  });
});

describe('characterFor', () => {
  it('answers every session message, unless the character says otherwise', () => {
    expect(characterFor({ name: 'Ada', bio: 'x' }, { kind: 'local' }).settings).toEqual(SESSION_SETTINGS);
    expect(characterFor({ name: 'Ada', bio: 'x', settings: { ALWAYS_RESPOND_SOURCES: 'client_chat' } }, { kind: 'local' }).settings).toEqual({
      ALWAYS_RESPOND_SOURCES: 'client_chat',
    });
  });

  it('hands plugin-ollama its settings through the agent, and never a key through the character', () => {
    const ollama = characterFor({ name: 'Ada', bio: 'x' }, chooseModel({ OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434', OLLAMA_LARGE_MODEL: 'llama3.2' }));
    expect(ollama.settings).toMatchObject({ OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434', OLLAMA_LARGE_MODEL: 'llama3.2' });
    const openai = characterFor({ name: 'Ada', bio: 'x' }, chooseModel({ OPENAI_API_KEY: 'sk-secret' }));
    expect(JSON.stringify(openai)).not.toContain('sk-secret');
  });
});
