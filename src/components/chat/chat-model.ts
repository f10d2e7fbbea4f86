/**
 * What the chat view shows, computed from IndexedDB's chat messages and outbox: one
 * timeline in the order things were said, each line with its delivery state.
 */
import type { ChatMessage } from '../../shared/api';
import type { OutboxItem } from '../../shared/db';
import type { PurlErrorCode } from '../../shared/errors';

/** 'saving': typed, and not yet written to the outbox by the worker. */
export type LineState = 'sent' | 'received' | 'saving' | OutboxItem['state'];

/** A message typed in this browser that the worker has not saved yet (src/link/unsent.ts keeps it). */
export interface UnsavedMessage {
  clientId: string;
  agentId: string;
  text: string;
  createdAt: number;
  /** Why the worker could not save it the last time this tab tried. */
  problem?: PurlErrorCode;
}

/** The sentence for a message the worker could not save yet; it stays kept and is tried again. */
export function describeSaveProblem(problem: PurlErrorCode): string {
  switch (problem) {
    case 'storage-full':
      return 'This browser has no room left for Purl’s data. The message is kept here and saved once there is space.';
    case 'storage-blocked':
      return 'Another Purl tab (an older version) keeps the saved data open. The message is kept here; close or reload that tab.';
    default:
      return 'Purl hasn’t saved this message yet. It is kept here and Purl keeps trying.';
  }
}

export interface ChatLine {
  key: string;
  isAgent: boolean;
  text: string;
  at: number;
  state: LineState;
  /** For outbox lines: why the last attempt failed, and when the next is. */
  error?: string;
  nextAttemptAt?: number;
  clientId?: string;
  thought?: string;
}

/** How long after a sent message without an answer the agent still counts as thinking. */
export const THINKING_WINDOW_MS = 60_000;

export function chatLines(messages: readonly ChatMessage[], outbox: readonly OutboxItem[], unsaved: readonly UnsavedMessage[] = []): ChatLine[] {
  const lines: ChatLine[] = messages.map((message) => {
    const line: ChatLine = {
      key: message.id,
      isAgent: message.isAgent,
      text: message.text,
      at: message.createdAt,
      state: message.isAgent ? 'received' : 'sent',
    };
    if (message.clientId) line.clientId = message.clientId;
    if (message.thought) line.thought = message.thought;
    return line;
  });
  for (const item of outbox) {
    const line: ChatLine = { key: item.clientId, isAgent: false, text: item.text, at: item.createdAt, state: item.state, clientId: item.clientId };
    if (item.error) line.error = item.error;
    if (item.nextAttemptAt !== undefined) line.nextAttemptAt = item.nextAttemptAt;
    lines.push(line);
  }
  const known = new Set(lines.map((line) => line.clientId).filter(Boolean));
  for (const item of unsaved) {
    if (known.has(item.clientId)) continue;
    const line: ChatLine = { key: item.clientId, isAgent: false, text: item.text, at: item.createdAt, state: 'saving', clientId: item.clientId };
    if (item.problem) line.error = describeSaveProblem(item.problem);
    lines.push(line);
  }
  // Unsent messages go last whatever their clock says: they will arrive after what the server has.
  const unsent = (line: ChatLine) => (line.state === 'sent' || line.state === 'received' ? 0 : 1);
  return lines.sort((a, b) => unsent(a) - unsent(b) || a.at - b.at);
}

/** The agent is thinking: the newest line is the user's, delivered, and recent. */
export function isAgentThinking(lines: readonly ChatLine[], now: number): boolean {
  const last = lines.at(-1);
  return last !== undefined && !last.isAgent && last.state === 'sent' && now - last.at < THINKING_WINDOW_MS;
}
