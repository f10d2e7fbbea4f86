import type { IAgentRuntime, Plugin } from '@elizaos/core';
import { describe, expect, it } from 'vitest';
import { classifyModelError, failureFromRunError, failureNotice, MODEL_FAILURE_PREFIX, ModelCallError, withModelFailures } from './model-failure';

/** Errors shaped as the AI SDK and Node's fetch make them. */
const apiCallError = (statusCode: number | undefined, cause?: unknown) =>
  Object.assign(new Error('provider said no'), { name: 'AI_APICallError', statusCode, cause });
const retryError = (lastError: unknown) => Object.assign(new Error('Failed after 3 attempts.'), { name: 'AI_RetryError', lastError, errors: [lastError] });
const refused = () =>
  Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });

describe('classifyModelError', () => {
  it.each([
    [401, 'auth'],
    [403, 'auth'],
    [429, 'rate-limited'],
    [408, 'timeout'],
    [500, 'provider-error'],
    [503, 'provider-error'],
    [404, 'rejected'],
    [400, 'rejected'],
  ])('reads HTTP %i behind a retry as %s', (status, code) => {
    expect(classifyModelError(retryError(apiCallError(status)))).toEqual({ code, status });
  });

  it('tells an unreachable provider from the socket error under fetch', () => {
    expect(classifyModelError(retryError(apiCallError(undefined, refused())))).toEqual({ code: 'unreachable' });
    expect(classifyModelError(refused())).toEqual({ code: 'unreachable' });
    expect(classifyModelError(new Error('Cannot connect to API: other side closed'))).toEqual({ code: 'unreachable' });
  });

  it('tells a timeout', () => {
    expect(classifyModelError(Object.assign(new Error('aborted'), { name: 'TimeoutError' }))).toEqual({ code: 'timeout' });
    expect(classifyModelError(Object.assign(new Error('slow'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toEqual({ code: 'timeout' });
  });

  it('calls anything else a failed call', () => {
    expect(classifyModelError(new Error('something odd'))).toEqual({ code: 'failed' });
    expect(classifyModelError('a string')).toEqual({ code: 'failed' });
  });
});

describe('ModelCallError and failureFromRunError', () => {
  it('round-trips the failure through the message, all ElizaOS passes on', () => {
    const error = new ModelCallError({ code: 'rate-limited', status: 429 }, 'TEXT_LARGE failed');
    expect(error.message).toBe('[purl-model:rate-limited:429] TEXT_LARGE failed');
    expect(failureFromRunError(error.message)).toEqual({ code: 'rate-limited', status: 429 });
    expect(failureFromRunError(new ModelCallError({ code: 'unreachable' }, 'x').message)).toEqual({ code: 'unreachable' });
  });

  it('reads nothing from an error Purl did not tag', () => {
    expect(failureFromRunError('database is locked')).toBeUndefined();
    expect(failureFromRunError('[purl-model:made-up] x')).toBeUndefined();
  });
});

describe('failureNotice', () => {
  it('is one sentence that starts the way the chat recognises', () => {
    const text = failureNotice({ code: 'rate-limited', status: 429 });
    expect(text).toBe("The agent's model didn't answer: the model provider is limiting requests (HTTP 429). Your message is saved; try again in a moment.");
    expect(failureNotice({ code: 'unreachable' }).startsWith(MODEL_FAILURE_PREFIX)).toBe(true);
  });
});

describe('withModelFailures', () => {
  const runtime = {} as IAgentRuntime;
  const plugin = (handler: () => Promise<unknown>): Plugin => ({
    name: 'p',
    description: 'd',
    init: async () => undefined,
    models: { TEXT_LARGE: handler as never },
  });
  const call = (wrapped: Plugin) => (wrapped.models!.TEXT_LARGE as unknown as (r: IAgentRuntime, p: unknown) => Promise<unknown>)(runtime, { prompt: 'x' });

  it('passes answers through and keeps the rest of the plugin', async () => {
    const wrapped = withModelFailures(plugin(async () => 'hello'));
    expect(await call(wrapped)).toBe('hello');
    expect(wrapped.name).toBe('p');
    expect(wrapped.init).toBeTypeOf('function');
  });

  it('turns a thrown error into a tagged ModelCallError that keeps its cause', async () => {
    const cause = retryError(apiCallError(401));
    const error = await call(
      withModelFailures(
        plugin(async () => {
          throw cause;
        }),
      ),
    ).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(ModelCallError);
    expect((error as ModelCallError).failure).toEqual({ code: 'auth', status: 401 });
    expect((error as ModelCallError).cause).toBe(cause);
  });

  it('turns a failure returned as an answer into an error', async () => {
    const wrapped = withModelFailures(
      plugin(async () => 'Error generating text. Please try again later.'),
      { isFailureAnswer: (answer) => answer === 'Error generating text. Please try again later.' },
    );
    await expect(call(wrapped)).rejects.toThrow(/^\[purl-model:reported-error\] TEXT_LARGE answered/);
  });
});
