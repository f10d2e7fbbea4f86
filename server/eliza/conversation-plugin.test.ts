import type { Character, HandlerCallback, IAgentRuntime, Memory, UUID } from '@elizaos/core';
import { createUniqueUuid } from '@elizaos/core';
import { describe, expect, it, vi } from 'vitest';
import { createConversationPlugin, describeCharacter, formatHistory, formatMessage, HISTORY_MESSAGES, MAX_MESSAGE_CHARS } from './conversation-plugin';

const agentId = '00000000-0000-4000-8000-00000000000a' as UUID;
const userId = '00000000-0000-4000-8000-00000000000b' as UUID;
const memory = (id: number, text: string, from: UUID, extra: Partial<Memory['content']> = {}): Memory =>
  ({ id: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`, entityId: from, roomId: agentId, createdAt: id, content: { text, ...extra } }) as Memory;

describe('describeCharacter', () => {
  it('carries the bio, topics, adjectives, style and examples, with the user named User', () => {
    const character: Character = {
      name: 'Ada',
      bio: ['Teaches.', 'Is patient.'],
      topics: ['loops'],
      adjectives: ['calm'],
      style: { all: ['Short.'], chat: ['Ask back.'] },
      messageExamples: [
        [
          { name: '{{user1}}', content: { text: 'Hi?' } },
          { name: 'Ada', content: { text: 'Hello.' } },
        ],
      ],
    };
    expect(describeCharacter(character)).toBe(
      [
        '# About Ada',
        'Teaches.',
        'Is patient.',
        'Ada knows about: loops.',
        'Ada is calm.',
        '# How Ada writes',
        '- Short.',
        '- Ask back.',
        '# Example conversations of Ada',
        'User: Hi?\nAda: Hello.',
      ].join('\n'),
    );
    expect(describeCharacter({ name: 'Min', bio: 'One line.' })).toBe('# About Min\nOne line.');
  });
});

describe('formatHistory', () => {
  it('lists the conversation before the message, oldest first, without action records', () => {
    const current = memory(5, 'now?', userId);
    const memories = [
      current,
      memory(3, 'Hello.', agentId),
      memory(4, 'Action not found', userId, { type: 'action_result' }),
      memory(2, 'Hi', userId),
      memory(1, '', userId),
    ];
    expect(formatHistory(memories, current, agentId, 'Ada')).toBe('# The conversation so far\nUser: Hi\nAda: Hello.');
    expect(formatHistory([current], current, agentId, 'Ada')).toBe('');
  });

  it('keeps the last messages and cuts long ones', () => {
    const current = memory(1000, 'now', userId);
    const many = Array.from({ length: HISTORY_MESSAGES + 5 }, (_, index) => memory(index + 1, `m${index + 1}`, userId));
    const lines = formatHistory([...many, current], current, agentId, 'Ada').split('\n');
    expect(lines).toHaveLength(HISTORY_MESSAGES + 1);
    expect(lines[1]).toBe('User: m6');
    const long = formatHistory([memory(1, 'x'.repeat(MAX_MESSAGE_CHARS + 10), userId), current], current, agentId, 'Ada');
    expect(long.endsWith(`${'x'.repeat(MAX_MESSAGE_CHARS)}…`)).toBe(true);
  });
});

describe('formatMessage', () => {
  it('puts the message under a heading a prompt reader can find', () => {
    expect(formatMessage('What is a loop?')).toBe('# The message to answer\nUser: What is a loop?');
  });
});

describe('the REPLY and IGNORE actions', () => {
  const plugin = createConversationPlugin();
  const runtime = { agentId } as IAgentRuntime;
  const message = memory(7, 'Hi', userId);
  const action = (name: string) => plugin.actions!.find((candidate) => candidate.name === name)!;

  it('REPLY sends the text the model wrote, marked as the answer to the message', async () => {
    const callback = vi.fn<HandlerCallback>(async () => []);
    const result = await action('REPLY').handler(runtime, message, undefined, undefined, callback, [memory(8, ' Hello! ', agentId, { thought: 'greet' })]);
    expect(result).toEqual({ success: true, text: 'Hello!' });
    expect(callback).toHaveBeenCalledWith({ text: 'Hello!', thought: 'greet', actions: ['REPLY'], inReplyTo: createUniqueUuid(runtime, message.id!) });
  });

  it('REPLY sends nothing when the model wrote nothing', async () => {
    const callback = vi.fn<HandlerCallback>(async () => []);
    expect(await action('REPLY').handler(runtime, message, undefined, undefined, callback, [memory(8, '', agentId)])).toMatchObject({ success: false });
    expect(callback).not.toHaveBeenCalled();
  });

  it('IGNORE records the silence as the answer, without text', async () => {
    const callback = vi.fn<HandlerCallback>(async () => []);
    await action('IGNORE').handler(runtime, message, undefined, undefined, callback, [memory(8, '', agentId, { thought: 'no' })]);
    expect(callback).toHaveBeenCalledWith({ thought: 'no', actions: ['IGNORE'], inReplyTo: createUniqueUuid(runtime, message.id!) });
  });

  it('offers REPLY and IGNORE to the model', async () => {
    const provider = plugin.providers!.find((candidate) => candidate.name === 'ACTIONS')!;
    expect((await provider.get(runtime, message, { values: {}, data: {}, text: '' })).values).toEqual({ actionNames: 'REPLY, IGNORE' });
  });
});
