import { describe, expect, it } from 'vitest';
import { chooseModel, describeModel, modelEnvNames } from './model-provider';

describe('chooseModel', () => {
  it('uses the local model when no provider is configured', () => {
    expect(chooseModel({})).toEqual({ kind: 'local' });
    expect(chooseModel({ OPENAI_API_KEY: ' ', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' })).toEqual({ kind: 'local' });
  });

  it('picks OpenAI from OPENAI_API_KEY, with OPENAI_BASE_URL and the plugin defaults', () => {
    expect(chooseModel({ OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1/' })).toEqual({
      kind: 'openai',
      plugin: '@elizaos/plugin-openai',
      endpoint: 'http://127.0.0.1:8080/v1',
      largeModel: 'gpt-5-mini',
      smallModel: 'gpt-5-nano',
      agentSettings: {},
      ignored: [],
    });
    expect(chooseModel({ OPENAI_API_KEY: 'sk-x' })).toMatchObject({ endpoint: 'https://api.openai.com/v1' });
    expect(chooseModel({ OPENAI_API_KEY: 'sk-x', OPENAI_LARGE_MODEL: 'qwen2.5', OPENAI_SMALL_MODEL: 'qwen2.5' })).toMatchObject({
      largeModel: 'qwen2.5',
      smallModel: 'qwen2.5',
    });
  });

  it('picks Anthropic from ANTHROPIC_API_KEY', () => {
    expect(chooseModel({ ANTHROPIC_API_KEY: 'sk-ant' })).toMatchObject({
      kind: 'anthropic',
      plugin: '@elizaos/plugin-anthropic',
      endpoint: 'https://api.anthropic.com/v1',
      largeModel: 'claude-sonnet-4-20250514',
    });
  });

  it('picks Ollama from OLLAMA_API_ENDPOINT and hands its settings to the agent, which is where plugin-ollama reads them', () => {
    expect(chooseModel({ OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434', OLLAMA_LARGE_MODEL: 'llama3.2' })).toEqual({
      kind: 'ollama',
      plugin: '@elizaos/plugin-ollama',
      endpoint: 'http://127.0.0.1:11434',
      largeModel: 'llama3.2',
      smallModel: 'gemma3',
      agentSettings: { OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434', OLLAMA_LARGE_MODEL: 'llama3.2' },
      ignored: [],
    });
  });

  it('prefers OpenAI, then Anthropic, then Ollama, and says which were set but not used', () => {
    const choice = chooseModel({ ANTHROPIC_API_KEY: 'a', OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434', OPENAI_API_KEY: 'o' });
    expect(choice).toMatchObject({ kind: 'openai', ignored: ['ANTHROPIC_API_KEY', 'OLLAMA_API_ENDPOINT'] });
    expect(describeModel(choice)).toMatch(/; ANTHROPIC_API_KEY and OLLAMA_API_ENDPOINT are set but not used$/);
  });

  it.each([
    ['OPENAI_BASE_URL', { OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'localhost:8080' }],
    ['ANTHROPIC_BASE_URL', { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'ftp://x' }],
    ['OLLAMA_API_ENDPOINT', { OLLAMA_API_ENDPOINT: 'not a url' }],
  ])('refuses a %s that is not an http(s) URL, in one sentence', (name, env) => {
    expect(() => chooseModel(env)).toThrow(RangeError);
    expect(() => chooseModel(env)).toThrow(new RegExp(`^${name} must be an http or https URL, but it is ".*"\\.$`));
  });
});

describe('describeModel', () => {
  it('names the model, the server and the plugin, and never a key or a password', () => {
    const text = describeModel(chooseModel({ OPENAI_API_KEY: 'sk-secret', OPENAI_BASE_URL: 'http://me:hunter2@127.0.0.1:8080/v1' }));
    expect(text).toBe('gpt-5-mini (small: gpt-5-nano) from the OpenAI-compatible server at http://127.0.0.1:8080/v1 (@elizaos/plugin-openai)');
    expect(text).not.toMatch(/sk-secret|hunter2/);
  });

  it('says how to get a real model when none is set', () => {
    expect(describeModel({ kind: 'local' })).toMatch(
      /^Purl's local deterministic model \(no OPENAI_API_KEY, ANTHROPIC_API_KEY or OLLAMA_API_ENDPOINT is set\)$/,
    );
  });
});

describe('modelEnvNames', () => {
  it('lists each provider variable once, and nothing of Purl or the shell', () => {
    const names = modelEnvNames();
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('OPENAI_API_KEY');
    expect(names.every((name) => /^(OPENAI|ANTHROPIC|OLLAMA)_/.test(name))).toBe(true);
  });
});
