import { ChannelType, createUniqueUuid, EventType, type IAgentRuntime, type Memory, type RunEventPayload, type UUID } from '@elizaos/core';
import { describe, expect, it, vi } from 'vitest';
import { createFailureNoticePlugin, type AgentNotice } from './failure-notice';
import { ModelCallError } from './model-failure';

const agentId = '00000000-0000-4000-8000-00000000000a' as UUID;
const roomId = '00000000-0000-4000-8000-000000000010' as UUID;
const messageId = '00000000-0000-4000-8000-000000000001' as UUID;
const centralId = '00000000-0000-4000-8000-0000000000c1' as UUID;

/** A runtime with one room in one world, holding `memories`. */
function fakeRuntime(memories: Memory[]): IAgentRuntime {
  const runtime = {
    agentId,
    character: { name: 'Ada' },
    logger: { warn: vi.fn() },
    getMemories: vi.fn(async () => memories),
    getRoom: vi.fn(async () => ({
      id: roomId,
      channelId: '00000000-0000-4000-8000-0000000000d1',
      worldId: '00000000-0000-4000-8000-0000000000e1',
      type: ChannelType.GROUP,
    })),
    getWorld: vi.fn(async () => ({ id: '00000000-0000-4000-8000-0000000000e1', messageServerId: '00000000-0000-0000-0000-000000000000' })),
    getMemoryById: vi.fn(async () => ({ id: messageId, metadata: { sourceId: centralId } })),
  };
  return runtime as unknown as IAgentRuntime;
}

function runEnded(runtime: IAgentRuntime, extra: Partial<RunEventPayload> = {}): RunEventPayload {
  return { runtime, source: 'messageHandler', runId: messageId, messageId, roomId, entityId: messageId, startTime: 0, status: 'completed', ...extra };
}

async function emit(payload: RunEventPayload): Promise<AgentNotice[]> {
  const posted: AgentNotice[] = [];
  const plugin = createFailureNoticePlugin({ post: async (notice) => void posted.push(notice) });
  const [handler] = plugin.events?.[EventType.RUN_ENDED] ?? [];
  await handler!(payload);
  return posted;
}

describe('the failure notice', () => {
  it('posts the model failure as the agent, in reply to the central message', async () => {
    const error = new ModelCallError({ code: 'rate-limited', status: 429 }, 'TEXT_LARGE failed').message;
    const [notice, ...more] = await emit(runEnded(fakeRuntime([]), { error }));
    expect(more).toEqual([]);
    expect(notice).toEqual({
      channelId: '00000000-0000-4000-8000-0000000000d1',
      messageServerId: '00000000-0000-0000-0000-000000000000',
      agentId,
      agentName: 'Ada',
      text: "The agent's model didn't answer: the model provider is limiting requests (HTTP 429). Your message is saved; try again in a moment.",
      inReplyTo: centralId,
      isDm: false,
      reason: 'rate-limited',
    });
  });

  it('says the server failed when the run ended with an error that is not the model', async () => {
    const [notice] = await emit(runEnded(fakeRuntime([]), { error: 'database is locked' }));
    expect(notice).toMatchObject({ text: "The agent didn't answer: an error on the server stopped it. Your message is saved.", reason: 'server-error' });
  });

  it('posts nothing when the agent answered, or chose silence, and says so when a finished run left no answer', async () => {
    const runtime = fakeRuntime([]);
    const reply = { entityId: agentId, content: { text: 'Hi', inReplyTo: createUniqueUuid(runtime, messageId) } } as Memory;
    expect(await emit(runEnded(fakeRuntime([reply])))).toEqual([]);
    const silence = { entityId: agentId, content: { actions: ['IGNORE'], inReplyTo: createUniqueUuid(runtime, messageId) } } as Memory;
    expect(await emit(runEnded(fakeRuntime([silence])))).toEqual([]);
    const someoneElse = { entityId: messageId, content: { text: 'Hi', inReplyTo: createUniqueUuid(runtime, messageId) } } as Memory;
    const [notice] = await emit(runEnded(fakeRuntime([someoneElse])));
    expect(notice?.text).toBe("The agent's model didn't answer: its answer was not in the form ElizaOS reads. Your message is saved; try again in a moment.");
  });

  it('ignores runs that end without a reply on purpose, and other sources', async () => {
    expect(await emit(runEnded(fakeRuntime([]), { status: 'self' as RunEventPayload['status'] }))).toEqual([]);
    expect(await emit(runEnded(fakeRuntime([]), { source: 'somewhere', error: 'x' }))).toEqual([]);
  });

  it('logs instead of throwing when the notice cannot be posted, so the run keeps its own error', async () => {
    const runtime = fakeRuntime([]);
    const plugin = createFailureNoticePlugin({ post: () => Promise.reject(new Error('submit answered 500')) });
    const [handler] = plugin.events?.[EventType.RUN_ENDED] ?? [];
    await expect(handler!(runEnded(runtime, { error: 'x' }))).resolves.toBeUndefined();
    expect(runtime.logger.warn).toHaveBeenCalledOnce();
  });
});
