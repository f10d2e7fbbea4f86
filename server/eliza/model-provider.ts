/**
 * Which model serves the embedded agents, chosen from the environment. Pure: takes the
 * environment, returns a value or throws a RangeError whose message is one sentence.
 *
 * The launcher uses {@link MODEL_ENV_NAMES} to allow-list what reaches the ElizaOS
 * process (nothing else of the user's environment does), and both sides describe the
 * choice with {@link describeModel}, which never includes a key.
 */

/** The ElizaOS model plugins Purl can load, pinned in package.json and tested on Node 20. */
export const MODEL_PLUGINS = {
  openai: '@elizaos/plugin-openai',
  anthropic: '@elizaos/plugin-anthropic',
  ollama: '@elizaos/plugin-ollama',
} as const;

/** Environment variables each provider reads; the only ones passed to ElizaOS. */
export const MODEL_ENV_NAMES = {
  openai: [
    'OPENAI_API_KEY',
    'OPENAI_BASE_URL',
    'OPENAI_SMALL_MODEL',
    'OPENAI_LARGE_MODEL',
    'OPENAI_EMBEDDING_MODEL',
    'OPENAI_EMBEDDING_URL',
    'OPENAI_EMBEDDING_API_KEY',
    'OPENAI_EMBEDDING_DIMENSIONS',
  ],
  anthropic: ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_SMALL_MODEL', 'ANTHROPIC_LARGE_MODEL'],
  ollama: ['OLLAMA_API_ENDPOINT', 'OLLAMA_SMALL_MODEL', 'OLLAMA_LARGE_MODEL', 'OLLAMA_EMBEDDING_MODEL'],
} as const;

export type ModelProvider = keyof typeof MODEL_PLUGINS;

/** The variable whose presence selects each provider, in the order they are tried. */
const SELECTORS: ReadonlyArray<readonly [ModelProvider, string]> = [
  ['openai', 'OPENAI_API_KEY'],
  ['anthropic', 'ANTHROPIC_API_KEY'],
  ['ollama', 'OLLAMA_API_ENDPOINT'],
];

/**
 * The plugins' own defaults (plugin-openai 1.0.11, plugin-anthropic 1.5.12,
 * plugin-ollama 1.0.8), repeated here only to say which model answers.
 */
const DEFAULT_MODELS: Readonly<Record<ModelProvider, { large: string; small: string }>> = {
  openai: { large: 'gpt-5-mini', small: 'gpt-5-nano' },
  anthropic: { large: 'claude-sonnet-4-20250514', small: 'claude-3-5-haiku-20241022' },
  ollama: { large: 'gemma3', small: 'gemma3' },
};

const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com/v1';

/** The model behind the agents: Purl's local deterministic one, or a provider's. */
export type ModelChoice =
  | { readonly kind: 'local' }
  | {
      readonly kind: ModelProvider;
      readonly plugin: string;
      /** Where the provider is reached (without any user:password part). */
      readonly endpoint: string;
      readonly largeModel: string;
      readonly smallModel: string;
      /** Settings the plugin reads only from the agent, never from the environment (plugin-ollama). */
      readonly agentSettings: Readonly<Record<string, string>>;
      /** Variables that select another provider, set but not used. */
      readonly ignored: readonly string[];
    };

/** Unset and empty both mean "not configured". */
function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** An http(s) URL, or a RangeError naming the variable; returned without credentials for display. */
function checkUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RangeError(`${name} must be an http or https URL, but it is ${JSON.stringify(raw)}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`${name} must be an http or https URL, but it is ${JSON.stringify(raw)}.`);
  }
  url.username = '';
  url.password = '';
  return url.href.replace(/\/$/, '');
}

/**
 * Chooses the model from `env`: OPENAI_API_KEY, else ANTHROPIC_API_KEY, else
 * OLLAMA_API_ENDPOINT, else the local model. Throws a RangeError for a base URL or
 * endpoint that is not an http(s) URL.
 */
export function chooseModel(env: NodeJS.ProcessEnv): ModelChoice {
  const selected = SELECTORS.filter(([, name]) => optional(env, name) !== undefined);
  const first = selected[0];
  if (first === undefined) return { kind: 'local' };
  const [provider] = first;
  const ignored = selected.slice(1).map(([, name]) => name);
  const defaults = DEFAULT_MODELS[provider];
  switch (provider) {
    case 'openai':
    case 'anthropic': {
      // Both read the same three variables under their own prefix, and their keys from the environment.
      const prefix = provider === 'openai' ? 'OPENAI' : 'ANTHROPIC';
      const defaultBase = provider === 'openai' ? DEFAULT_OPENAI_BASE_URL : DEFAULT_ANTHROPIC_BASE_URL;
      return {
        kind: provider,
        plugin: MODEL_PLUGINS[provider],
        endpoint: checkUrl(`${prefix}_BASE_URL`, optional(env, `${prefix}_BASE_URL`) ?? defaultBase),
        largeModel: optional(env, `${prefix}_LARGE_MODEL`) ?? defaults.large,
        smallModel: optional(env, `${prefix}_SMALL_MODEL`) ?? defaults.small,
        agentSettings: {},
        ignored,
      };
    }
    case 'ollama': {
      const endpoint = checkUrl('OLLAMA_API_ENDPOINT', optional(env, 'OLLAMA_API_ENDPOINT')!);
      // plugin-ollama asks the agent's settings only (runtime.getSetting), never the
      // environment; none of these is a secret.
      const agentSettings: Record<string, string> = {};
      for (const name of MODEL_ENV_NAMES.ollama) {
        const value = optional(env, name);
        if (value !== undefined) agentSettings[name] = value;
      }
      return {
        kind: provider,
        plugin: MODEL_PLUGINS.ollama,
        endpoint,
        largeModel: agentSettings['OLLAMA_LARGE_MODEL'] ?? defaults.large,
        smallModel: agentSettings['OLLAMA_SMALL_MODEL'] ?? defaults.small,
        agentSettings,
        ignored,
      };
    }
    default: {
      const unreachable: never = provider;
      return unreachable;
    }
  }
}

const PROVIDER_NAMES: Readonly<Record<ModelProvider, string>> = {
  openai: 'the OpenAI-compatible server',
  anthropic: 'Anthropic',
  ollama: 'the Ollama server',
};

/**
 * What answers, for a person: "Purl's local deterministic model (…)" or "gpt-5-mini from
 * the OpenAI-compatible server at https://api.openai.com/v1 (@elizaos/plugin-openai 1.0.11)".
 * Never contains a key.
 */
export function describeModel(choice: ModelChoice, pluginVersion?: string): string {
  if (choice.kind === 'local') {
    return "Purl's local deterministic model (no OPENAI_API_KEY, ANTHROPIC_API_KEY or OLLAMA_API_ENDPOINT is set)";
  }
  const models = choice.largeModel === choice.smallModel ? choice.largeModel : `${choice.largeModel} (small: ${choice.smallModel})`;
  const ignored = choice.ignored.length > 0 ? `; ${choice.ignored.join(' and ')} ${choice.ignored.length === 1 ? 'is' : 'are'} set but not used` : '';
  const plugin = pluginVersion === undefined ? choice.plugin : `${choice.plugin} ${pluginVersion}`;
  return `${models} from ${PROVIDER_NAMES[choice.kind]} at ${choice.endpoint} (${plugin})${ignored}`;
}

/** The names of every variable the embedded ElizaOS may see for its model. */
export function modelEnvNames(): readonly string[] {
  return [...MODEL_ENV_NAMES.openai, ...MODEL_ENV_NAMES.anthropic, ...MODEL_ENV_NAMES.ollama];
}
