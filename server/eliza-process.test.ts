import { describe, expect, it } from 'vitest';
import { cleanEnvironment } from './eliza-process';

const base = { port: 3901, dataDir: '/srv/data', secret: 's3cret', stock: false, characterFiles: undefined };

describe('cleanEnvironment', () => {
  it("passes the model provider's variables by name and nothing else of the user's environment", () => {
    const env = cleanEnvironment({
      ...base,
      modelEnv: {
        OPENAI_API_KEY: 'sk-planted',
        OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1',
        ANTHROPIC_API_KEY: 'sk-ant',
        OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434',
        ELIZA_SERVER_AUTH_TOKEN: 'not-for-eliza',
        AWS_SECRET_ACCESS_KEY: 'aws',
        GITHUB_TOKEN: 'gh',
        OPENAI_ORG_ID: 'org',
        EMPTY: '',
      },
    });
    expect(env).toMatchObject({
      OPENAI_API_KEY: 'sk-planted',
      OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1',
      ANTHROPIC_API_KEY: 'sk-ant',
      OLLAMA_API_ENDPOINT: 'http://127.0.0.1:11434',
    });
    for (const name of ['ELIZA_SERVER_AUTH_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'OPENAI_ORG_ID', 'EMPTY']) expect(env).not.toHaveProperty(name);
  });

  it('names the character files for the child, absolute and comma-separated', () => {
    expect(cleanEnvironment({ ...base, characterFiles: ['/a/ada.json', '/b/bo.json'], modelEnv: {} })['ELIZA_CHARACTER']).toBe('/a/ada.json,/b/bo.json');
    expect(cleanEnvironment({ ...base, modelEnv: { ELIZA_CHARACTER: 'x.json' } })).not.toHaveProperty('ELIZA_CHARACTER');
  });
});
