import {
  ModelType,
  composePromptFromState,
  messageHandlerTemplate,
  parseKeyValueXml,
  shouldRespondTemplate,
  type IAgentRuntime,
  type Memory,
  type Plugin,
  type Provider,
  type State,
} from '@elizaos/core';
import { describe, expect, it } from 'vitest';
import { EMBEDDING_DIMENSIONS, MAX_QUOTED_CODE_POINTS, decodeTokens, embedText, encodeTokens } from './local-model';
import { CURRENT_MESSAGE_PROVIDER, composeReply, createLocalModelPlugin, currentMessageMarker, formatCurrentMessage } from './local-model-plugin';

const runtime = { character: { name: 'Purl' } } as unknown as IAgentRuntime;

function model<K extends keyof NonNullable<Plugin['models']>>(plugin: Plugin, type: K) {
  const handler = plugin.models?.[type];
  if (handler === undefined) throw new Error(`no ${type} handler`);
  return handler;
}

function provider(plugin: Plugin, name: string): Provider {
  const found = plugin.providers?.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no ${name} provider`);
  return found;
}

/** Builds the reply prompt the way DefaultMessageService does, from the plugin's providers. */
async function replyPrompt(plugin: Plugin, userText: string): Promise<string> {
  const message = { content: { text: userText } } as Memory;
  const results = await Promise.all((plugin.providers ?? []).map((candidate) => candidate.get(runtime, message, {} as State)));
  const providers = results
    .map((result) => result.text ?? '')
    .filter((text) => text !== '')
    .join('\n');
  const values = Object.assign({ agentName: 'Purl', providers }, ...results.map((result) => result.values ?? {}));
  return composePromptFromState({ state: { values, data: {}, text: providers }, template: messageHandlerTemplate });
}

const tricky = [
  'Plain question?',
  'Quotes " and \' and <b>bold</b> & &amp; &lt;',
  'Closing tags </text></response> in the middle',
  'Handlebars {{name1}} and {{agentName}} stay as typed',
  'Line one\nline two\ttabbed',
  'Emoji 🐈 and accents: café, naïve',
];

describe('composeReply', () => {
  it('is deterministic', () => {
    expect(composeReply('What happens when I open ten tabs?')).toEqual(composeReply('What happens when I open ten tabs?'));
  });

  it('contains the trimmed message verbatim and counts its words', () => {
    const reply = composeReply('   Why does the agent go silent?  \n');
    expect(reply.text).toContain('"Why does the agent go silent?"');
    expect(reply.text).toContain('That is 6 words.');
    expect(reply.thought).toBe('The user said 6 words; answering from the local model.');
  });

  it('says "word" for a single word', () => {
    expect(composeReply('hello').text).toContain('That is 1 word.');
    expect(composeReply('hello').thought).toContain('said 1 word;');
  });

  it('gives different messages different replies', () => {
    const replies = new Set(tricky.map((text) => composeReply(text).text));
    expect(replies.size).toBe(tricky.length);
  });

  it('answers an empty or blank message without quoting it', () => {
    for (const text of ['', '   ', '\n\t']) {
      const reply = composeReply(text);
      expect(reply.text).toBe('Purl heard an empty message. Ask me anything about Purl or rate limits.');
      expect(reply.thought).toContain('said 0 words');
    }
  });

  it('quotes at most 500 code points of a huge message, never splitting an emoji', () => {
    const huge = `${'a'.repeat(MAX_QUOTED_CODE_POINTS - 1)}🐈${'b'.repeat(100_000)}`;
    const reply = composeReply(huge);
    expect(reply.text).toContain(`"${'a'.repeat(MAX_QUOTED_CODE_POINTS - 1)}🐈…"`);
    expect(reply.text.length).toBeLessThan(800);
    expect(reply.text).toContain('That is 1 word.');
    expect(reply.text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});

describe('the local model plugin', () => {
  it('answers the reply prompt with XML that ElizaOS parses back to composeReply', async () => {
    const plugin = createLocalModelPlugin({ markerNonce: 'test' });
    for (const text of tricky) {
      const xml = await model(plugin, ModelType.TEXT_LARGE)(runtime, { prompt: await replyPrompt(plugin, text) });
      const parsed = parseKeyValueXml(xml as string);
      const expected = composeReply(text);
      expect(parsed).toMatchObject({ actions: ['REPLY'], providers: [], thought: expected.thought, text: expected.text });
    }
  });

  it('sets actionNames, so the message service does not warn on every reply', async () => {
    const plugin = createLocalModelPlugin({ markerNonce: 'test' });
    const result = await provider(plugin, 'PURL_ACTIONS').get(runtime, { content: {} } as Memory, {} as State);
    expect(result.values).toEqual({ actionNames: 'REPLY' });
  });

  it('ignores a marker with another nonce planted in the prompt', async () => {
    const plugin = createLocalModelPlugin({ markerNonce: 'real' });
    const forged = formatCurrentMessage(currentMessageMarker('guess'), 'forged');
    const prompt = `${forged}\n${await replyPrompt(plugin, 'genuine')}`;
    const xml = await model(plugin, ModelType.TEXT_LARGE)(runtime, { prompt });
    expect(parseKeyValueXml(xml as string)?.text).toBe(composeReply('genuine').text);
  });

  it('answers as to an empty message when the prompt has no marker', async () => {
    const plugin = createLocalModelPlugin();
    const xml = await model(plugin, ModelType.TEXT_LARGE)(runtime, { prompt: 'no marker here' });
    expect(parseKeyValueXml(xml as string)?.text).toBe(composeReply('').text);
  });

  it('always decides to respond to the should-respond prompt', async () => {
    const plugin = createLocalModelPlugin();
    const prompt = composePromptFromState({
      state: { values: { agentName: 'Purl' }, data: {}, text: '' },
      template: shouldRespondTemplate,
    });
    const xml = await model(plugin, ModelType.TEXT_SMALL)(runtime, { prompt });
    expect(parseKeyValueXml(xml as string)).toMatchObject({ name: 'Purl', action: 'RESPOND' });
  });

  it('puts the message into the prompt through its provider', async () => {
    const plugin = createLocalModelPlugin({ markerNonce: 'n' });
    const result = await provider(plugin, CURRENT_MESSAGE_PROVIDER).get(runtime, { content: { text: 'say "hi"' } } as Memory, {} as State);
    expect(result.text).toBe('<<purl-current-message n>>"say \\"hi\\""');
  });

  it('embeds into 384 normalised dimensions, whatever form the input takes', async () => {
    const embed = model(createLocalModelPlugin(), ModelType.TEXT_EMBEDDING);
    for (const params of [{ text: '' }, null, 'rate limits', { text: 'open ten tabs' }]) {
      const vector = (await embed(runtime, params)) as number[];
      expect(vector).toHaveLength(EMBEDDING_DIMENSIONS);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 10);
    }
  });

  it('embeds deterministically, closer for texts that share words', () => {
    const dot = (a: number[], b: number[]) => a.reduce((sum, value, i) => sum + value * (b[i] ?? 0), 0);
    const base = embedText('why does the agent stop replying');
    expect(embedText('why does the agent stop replying')).toEqual(base);
    expect(dot(base, embedText('the agent stopped replying'))).toBeGreaterThan(dot(base, embedText('offline outbox on a train')));
  });

  it('round-trips text through its tokenizer, also for any tail of the tokens', async () => {
    const plugin = createLocalModelPlugin();
    const text = 'Tabs 🐈 and cafés';
    const tokens = (await model(plugin, ModelType.TEXT_TOKENIZER_ENCODE)(runtime, {
      prompt: text,
      modelType: ModelType.TEXT_TOKENIZER_ENCODE,
    })) as number[];
    expect(
      await model(plugin, ModelType.TEXT_TOKENIZER_DECODE)(runtime, {
        tokens,
        modelType: ModelType.TEXT_TOKENIZER_DECODE,
      }),
    ).toBe(text);
    expect(decodeTokens(encodeTokens(text).slice(-11))).toBe('🐈 and cafés');
  });
});
