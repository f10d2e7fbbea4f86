import { countMemories, getMeta, listAgents, listMemories } from '../shared/db';
import { useDbQuery, useMetrics, useOnline } from '../data/hooks';
import { useView } from '../data/route';
import { ChatView } from './chat/ChatView';
import { Header } from './Header';
import { MemoryList } from './MemoryList';
import { Monitor } from './Monitor';
import { StatusBanner } from './StatusBanner';
import { UpdatePrompt } from './UpdatePrompt';

/** How many memories the list shows at once. */
const SHOWN = 300;

export function App() {
  const online = useOnline();
  const metrics = useMetrics();
  const view = useView();
  const agents = useDbQuery((db) => listAgents(db), ['agents'], []);
  const meta = useDbQuery(async (db) => ({ agentId: await getMeta(db, 'selectedAgentId'), sync: await getMeta(db, 'sync') }), ['meta'], []);
  const agentId = meta.data?.agentId;
  const memories = useDbQuery(
    async (db) => (agentId ? { shown: await listMemories(db, agentId, SHOWN), total: await countMemories(db, agentId) } : undefined),
    ['memories', 'meta'],
    [agentId],
  );
  const agent = agents.data?.find((candidate) => candidate.id === agentId);
  const agentName = agent?.name ?? 'Agent';

  return (
    <>
      <Header agents={agents.data ?? []} selectedId={agentId} highLoad={metrics?.highLoad ?? false} />
      <nav class="views" aria-label="Views">
        <a href="#/memories" aria-current={view === 'memories' ? 'page' : undefined}>
          Memories
        </a>
        <a href="#/chat" aria-current={view === 'chat' ? 'page' : undefined}>
          Chat
        </a>
      </nav>
      <main id="main">
        <StatusBanner online={online} sync={meta.data?.sync} metrics={metrics} storageError={memories.error ?? agents.error} />
        <Monitor metrics={metrics} />
        {view === 'chat' ? (
          agentId ? (
            <ChatView agentId={agentId} agentName={agentName} />
          ) : (
            <p class="empty">The chat opens once Purl has heard from the agent's server.</p>
          )
        ) : (
          <MemoryList
            agentName={agentName}
            memories={memories.data?.shown}
            total={memories.data?.total ?? 0}
            loading={meta.data === undefined || (agentId !== undefined && memories.data === undefined)}
          />
        )}
      </main>
      <UpdatePrompt />
    </>
  );
}
