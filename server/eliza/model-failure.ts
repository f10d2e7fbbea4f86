/**
 * What a failed model call means for the person chatting. ElizaOS 1.7 turns a model
 * error into a log line and nothing else (see docs/ARCHITECTURE.md, "When the model
 * fails"), so Purl classifies the error where the error object still exists (around the
 * provider plugin's handlers) and carries the class in the message, which is all of it
 * that ElizaOS passes on in its RUN_ENDED event.
 */
import type { IAgentRuntime, Plugin } from '@elizaos/core';

/** Why the model gave no answer. */
export type ModelFailureCode = 'auth' | 'rate-limited' | 'unreachable' | 'timeout' | 'provider-error' | 'rejected' | 'reported-error' | 'unreadable' | 'failed';

export interface ModelFailure {
  readonly code: ModelFailureCode;
  /** The provider's HTTP status, when it answered with one. */
  readonly status?: number;
}

/** Every notice about a model failure starts with these words. */
export const MODEL_FAILURE_PREFIX = "The agent's model didn't answer";

/** Node and undici error codes that mean the provider was never reached. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * The error and what it wraps: the AI SDK's RetryError keeps the last attempt's error in
 * `lastError`, its APICallError keeps the fetch error in `cause`, and Node's fetch keeps
 * the socket error (with its `code`) in `cause` again.
 */
function* chain(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth += 1) {
    yield current;
    const errors = field(current, 'errors');
    if (Array.isArray(errors)) yield* errors.slice(0, 4);
    current = field(current, 'lastError') ?? field(current, 'cause');
  }
}

function fromStatus(status: number): ModelFailure {
  if (status === 401 || status === 403) return { code: 'auth', status };
  if (status === 429) return { code: 'rate-limited', status };
  if (status === 408 || status === 504) return { code: 'timeout', status };
  if (status >= 500) return { code: 'provider-error', status };
  return { code: 'rejected', status };
}

/** Classifies what a provider plugin threw. */
export function classifyModelError(error: unknown): ModelFailure {
  for (const link of chain(error)) {
    const status = field(link, 'statusCode') ?? field(link, 'status');
    if (typeof status === 'number' && status >= 400 && status < 600) return fromStatus(status);
  }
  for (const link of chain(error)) {
    const code = field(link, 'code');
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return { code: 'unreachable' };
    if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return { code: 'timeout' };
    const name = field(link, 'name');
    if (name === 'AbortError' || name === 'TimeoutError') return { code: 'timeout' };
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/fetch failed|Cannot connect to API/i.test(message)) return { code: 'unreachable' };
  return { code: 'failed' };
}

const TAG = /^\[purl-model:([a-z-]+)(?::(\d{3}))?\]/;
const CODES: ReadonlySet<string> = new Set<ModelFailureCode>([
  'auth',
  'rate-limited',
  'unreachable',
  'timeout',
  'provider-error',
  'rejected',
  'reported-error',
  'unreadable',
  'failed',
]);

/**
 * A model call that failed. Its message starts with a tag (`[purl-model:rate-limited:429]`)
 * because ElizaOS hands on only the message of an error that ended a run.
 */
export class ModelCallError extends Error {
  override readonly name = 'ModelCallError';
  constructor(
    readonly failure: ModelFailure,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`[purl-model:${failure.code}${failure.status === undefined ? '' : `:${failure.status}`}] ${detail}`, options);
  }
}

/** Reads back the failure from the text of an error that ended a run, if Purl tagged it. */
export function failureFromRunError(text: string): ModelFailure | undefined {
  const tag = TAG.exec(text);
  if (!tag || !CODES.has(tag[1]!)) return undefined;
  return tag[2] === undefined ? { code: tag[1] as ModelFailureCode } : { code: tag[1] as ModelFailureCode, status: Number(tag[2]) };
}

function reasonOf({ code, status }: ModelFailure): string {
  const http = status === undefined ? '' : ` (HTTP ${status})`;
  switch (code) {
    case 'auth':
      return `the model provider refused the server's API key${http}`;
    case 'rate-limited':
      return `the model provider is limiting requests${http}`;
    case 'unreachable':
      return 'the model provider could not be reached';
    case 'timeout':
      return `the model provider took too long${http}`;
    case 'provider-error':
      return `the model provider failed${http}`;
    case 'rejected':
      return `the model provider refused the request${http}; the model name may be wrong`;
    case 'reported-error':
      return 'the model provider reported an error';
    case 'unreadable':
      return 'its answer was not in the form ElizaOS reads';
    case 'failed':
      return 'the call to it failed';
    default: {
      const unknown: never = code;
      return unknown;
    }
  }
}

/** The sentence the chat shows for a failure: `The agent's model didn't answer: … Your message is saved.` */
export function failureNotice(failure: ModelFailure): string {
  return `${MODEL_FAILURE_PREFIX}: ${reasonOf(failure)}. Your message is saved; try again in a moment.`;
}

/** The sentence for a run that ended with an error outside the model call. */
export const SERVER_FAILURE_NOTICE = "The agent didn't answer: an error on the server stopped it. Your message is saved.";

/** Options of {@link withModelFailures}. */
export interface ModelFailureOptions {
  /**
   * Tells a failure that the plugin returned as if it were an answer. plugin-ollama 1.0.8
   * catches every error and returns a fixed sentence instead.
   */
  readonly isFailureAnswer?: (answer: unknown) => boolean;
}

/** Any model handler, seen from outside: it takes the runtime and its parameters. */
type AnyModelHandler = (runtime: IAgentRuntime, params: unknown) => Promise<unknown>;

/**
 * The plugin with each model handler wrapped so that what it throws (or a failure it
 * returns as an answer) becomes a {@link ModelCallError} carrying the classified failure.
 */
export function withModelFailures(plugin: Plugin, options: ModelFailureOptions = {}): Plugin {
  const models: Record<string, AnyModelHandler> = {};
  for (const [type, handler] of Object.entries(plugin.models ?? {}) as Array<[string, AnyModelHandler]>) {
    models[type] = async (runtime, params) => {
      let answer: unknown;
      try {
        answer = await handler(runtime, params);
      } catch (error) {
        const failure = classifyModelError(error);
        throw new ModelCallError(failure, `${type} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      if (options.isFailureAnswer?.(answer)) {
        throw new ModelCallError({ code: 'reported-error' }, `${type} answered ${JSON.stringify(answer)}`);
      }
      return answer;
    };
  }
  return { ...plugin, models: models as Plugin['models'] };
}
