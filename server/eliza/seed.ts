/**
 * On first start, seeds a few short conversations through the server's own REST API, so
 * a new user sees memories at once and the seeded data has exactly the shape real chats
 * produce. A marker file, written only after everything succeeded, prevents re-seeding.
 */
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createElizaApi, type ElizaApi } from './eliza-api';

/** Name of the marker file in the ElizaOS data directory. */
export const SEED_MARKER_FILE = '.purl-seeded';

/** One seeded conversation: a fixed user and what that user says, in order. */
export interface SeedConversation {
  readonly userId: string;
  readonly messages: readonly string[];
}

/** The conversations a fresh install starts with. Fixed user ids keep them recognisable. */
export const SEED_CONVERSATIONS: readonly SeedConversation[] = [
  {
    userId: '5eed0001-0000-4000-8000-000000000001',
    messages: ['Hi Purl, what happens when I open ten tabs?', 'So the tabs never call the server themselves?'],
  },
  {
    userId: '5eed0001-0000-4000-8000-000000000002',
    messages: ['Why does the agent go silent after a while?', 'How long should I wait after a 429?', 'Can I see how many requests I have left?'],
  },
  {
    userId: '5eed0001-0000-4000-8000-000000000003',
    messages: ['Does Purl work when I am offline?', 'What happens to a message I send on a train with no signal?'],
  },
];

/** Options of {@link seedConversationsOnce}. */
export interface SeedOptions {
  /** Where the server listens, e.g. `http://127.0.0.1:3901`. */
  readonly baseUrl: string;
  readonly agentId: string;
  /** ELIZA_SERVER_AUTH_TOKEN, sent as X-API-KEY when set. */
  readonly authToken: string | undefined;
  /** The ElizaOS data directory; the marker lives next to the database it describes. */
  readonly dataDir: string;
  readonly onProgress: (step: string) => void;
  /** How long to wait for each agent reply. */
  readonly replyTimeoutMs?: number;
  readonly conversations?: readonly SeedConversation[];
}

interface CreatedSession {
  readonly sessionId: string;
  readonly channelId: string;
}

interface SessionMessages {
  readonly messages: ReadonlyArray<{ readonly content: string; readonly isAgent: boolean }>;
}

interface MemoriesResponse {
  readonly data: { readonly memories: ReadonlyArray<{ readonly entityId: string; readonly content: { readonly text?: string } }> };
}

async function fileExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Posts without `transport: "http"` on purpose: that transport hands the message straight
 * to the runtime and returns the reply, but ElizaOS then stores no agent memory and posts
 * no reply to the channel. The default transport goes through the message bus like every
 * real chat, so the reply is awaited by polling the session.
 */
async function sendAndAwaitReply(api: ElizaApi, sessionId: string, text: string, timeoutMs: number): Promise<void> {
  await api.post(`/api/messaging/sessions/${sessionId}/messages`, { content: text });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // Replies take 0.1-0.7 s; polling every 100 ms costs a few requests of the 1000 allowed.
    await sleep(100);
    const { messages } = await api.get<SessionMessages>(`/api/messaging/sessions/${sessionId}/messages?limit=10`);
    if (messages.some((message) => message.isAgent && message.content.includes(text))) return;
  }
  throw new Error(`the agent did not answer "${text}" within ${timeoutMs / 1000} s`);
}

/** Checks that every seeded message and its reply are now among the agent's memories. */
async function verifyMemories(api: ElizaApi, agentId: string, conversations: readonly SeedConversation[]): Promise<void> {
  const { data } = await api.get<MemoriesResponse>(`/api/agents/${agentId}/memories?tableName=messages&includeEmbedding=false`);
  for (const text of conversations.flatMap((conversation) => conversation.messages)) {
    const hasUserMemory = data.memories.some((memory) => memory.entityId !== agentId && memory.content.text === text);
    const hasReply = data.memories.some((memory) => memory.entityId === agentId && (memory.content.text ?? '').includes(text));
    if (!hasUserMemory || !hasReply) {
      throw new Error(`the memories lack "${text}" or the agent's reply to it after seeding`);
    }
  }
}

/**
 * Seeds the conversations unless the marker says that was done. Returns true when it
 * seeded now. Throws, leaving no marker, when any step fails.
 */
export async function seedConversationsOnce(options: SeedOptions): Promise<boolean> {
  const marker = path.join(options.dataDir, SEED_MARKER_FILE);
  if (await fileExists(marker)) {
    options.onProgress('conversations already seeded');
    return false;
  }
  const conversations = options.conversations ?? SEED_CONVERSATIONS;
  const api = createElizaApi({ baseUrl: options.baseUrl, authToken: options.authToken });
  options.onProgress(`seeding ${conversations.length} conversations`);
  const channelIds: string[] = [];
  for (const conversation of conversations) {
    const session = await api.post<CreatedSession>('/api/messaging/sessions', {
      agentId: options.agentId,
      userId: conversation.userId,
    });
    channelIds.push(session.channelId);
    for (const text of conversation.messages) {
      await sendAndAwaitReply(api, session.sessionId, text, options.replyTimeoutMs ?? 10_000);
    }
  }
  await verifyMemories(api, options.agentId, conversations);
  // Written whole, then renamed: a crash never leaves a half marker that blocks seeding.
  await mkdir(options.dataDir, { recursive: true });
  const partial = `${marker}.partial`;
  const record = { seededAt: new Date().toISOString(), agentId: options.agentId, channelIds };
  await writeFile(partial, `${JSON.stringify(record, null, 2)}\n`);
  await rename(partial, marker);
  return true;
}
