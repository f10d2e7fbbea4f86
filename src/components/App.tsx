import { countMemories, getMeta, listAgents, listMemories } from '../shared/db';
import { useDbQuery, useMetrics, useOnline } from '../data/hooks';
import { Header } from './Header';
import { MemoryList } from './MemoryList';
import { StatusBanner } from './StatusBanner';
import { UpdatePrompt } from './UpdatePrompt';

/** How many memories the list shows at once (paging and search come with the memories browser). */
const SHOWN = 300;

export function App() {
  const online = useOnline();
  const metrics = useMetrics();
  const agents = useDbQuery((db) => listAgents(db), ['agents'], []);
  const meta = useDbQuery(
    async (db) => ({ agentId: await getMeta(db, 'selectedAgentId'), sync: await getMeta(db, 'sync') }),
    ['meta'],
    [],
  );
  const agentId = meta.data?.agentId;
  const memories = useDbQuery(
    async (db) => (agentId ? { shown: await listMemories(db, agentId, SHOWN), total: await countMemories(db, agentId) } : undefined),
    ['memories', 'meta'],
    [agentId],
  );
  const agent = agents.data?.find((candidate) => candidate.id === agentId);

  return (
    <>
      <Header agents={agents.data ?? []} selectedId={agentId} highLoad={metrics?.highLoad ?? false} />
      <main id="main">
        <StatusBanner online={online} sync={meta.data?.sync} metrics={metrics} storageError={memories.error ?? agents.error} />
        <MemoryList
          agentName={agent?.name ?? 'Agent'}
          memories={memories.data?.shown}
          total={memories.data?.total ?? 0}
          loading={meta.data === undefined || (agentId !== undefined && memories.data === undefined)}
        />
      </main>
      <UpdatePrompt />
    </>
  );
}
