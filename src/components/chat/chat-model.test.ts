import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../shared/api';
import type { OutboxItem } from '../../shared/db';
import { chatLines, isAgentThinking } from './chat-model';

const message = (id: string, at: number, isAgent: boolean): ChatMessage => ({
  id,
  agentId: 'a',
  channelId: 'c',
  authorId: isAgent ? 'a' : 'u',
  isAgent,
  text: id,
  createdAt: at,
});
const queued = (clientId: string, at: number, state: OutboxItem['state'] = 'queued'): OutboxItem => ({
  clientId,
  agentId: 'a',
  text: clientId,
  createdAt: at,
  state,
  attempts: 0,
});

describe('the chat timeline', () => {
  it('orders server messages by time and puts unsent ones after them, in the order typed', () => {
    const lines = chatLines([message('reply', 20, true), message('hi', 10, false)], [queued('later', 5), queued('latest', 6, 'retrying')]);
    expect(lines.map((line) => [line.text, line.state])).toEqual([
      ['hi', 'sent'],
      ['reply', 'received'],
      ['later', 'queued'],
      ['latest', 'retrying'],
    ]);
  });

  it('shows a message the worker has not saved yet as saving, after the rest, and once only', () => {
    const unsaved = (clientId: string, at: number) => ({ clientId, agentId: 'a', text: clientId, createdAt: at });
    const lines = chatLines([message('hi', 10, false)], [queued('queued', 20)], [unsaved('queued', 20), unsaved('typed', 30)]);
    expect(lines.map((line) => [line.text, line.state])).toEqual([
      ['hi', 'sent'],
      ['queued', 'queued'],
      ['typed', 'saving'],
    ]);
  });

  it('says why a message is not saved yet, as a sentence', () => {
    const lines = chatLines([], [], [{ clientId: 'full', agentId: 'a', text: 'full', createdAt: 1, problem: 'storage-full' }]);
    expect(lines[0]).toMatchObject({ state: 'saving', error: expect.stringMatching(/no room left/) });
  });

  it('shows the agent thinking after a delivered message until its reply, for a minute at most', () => {
    const asked = chatLines([message('hi', 1_000, false)], []);
    expect(isAgentThinking(asked, 2_000)).toBe(true);
    expect(isAgentThinking(asked, 61_000)).toBe(false);
    expect(isAgentThinking(chatLines([message('hi', 1_000, false), message('yo', 1_500, true)], []), 2_000)).toBe(false);
    expect(isAgentThinking(chatLines([], [queued('wait', 1_000)]), 2_000)).toBe(false);
  });
});
