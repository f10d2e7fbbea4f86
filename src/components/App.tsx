import { getMeta, listAgents } from '../shared/db';
import { useDbQuery, useMetrics, useOnline, useStorageProblem } from '../data/hooks';
import { useView } from '../data/route';
import { ChatView } from './chat/ChatView';
import { Header } from './Header';
import { MemoriesView } from './memories/MemoriesView';
import { Monitor } from './Monitor';
import { StatusBanner } from './StatusBanner';
import { UpdatePrompt } from './UpdatePrompt';
import { currentWorkerSupport, noWorkerSentence } from './worker-support';

/** Fixed for the page's life: whether this browser gives Purl its service worker here. */
const noWorker = noWorkerSentence(currentWorkerSupport());

export function App() {
  const online = useOnline();
  const metrics = useMetrics();
  const storageProblem = useStorageProblem();
  const view = useView();
  const agents = useDbQuery((db) => listAgents(db), ['agents'], []);
  const meta = useDbQuery(
    async (db) => ({ agentId: await getMeta(db, 'selectedAgentId'), sync: await getMeta(db, 'sync'), chatPoll: await getMeta(db, 'chatPoll') }),
    ['meta'],
    [],
  );
  const agentId = meta.data?.agentId;
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
        <StatusBanner
          online={online}
          sync={meta.data?.sync}
          chatPoll={meta.data?.chatPoll}
          metrics={metrics}
          storageError={storageProblem ?? meta.error ?? agents.error}
        />
        <Monitor metrics={metrics} />
        {noWorker && (
          <p class="status-line no-worker" role="alert">
            {noWorker}
          </p>
        )}
        {!agentId ? (
          !noWorker && (
            <p class="empty">{meta.data ? "Waiting for the agent's server: saved memories and the chat appear here once it has answered." : 'Loading…'}</p>
          )
        ) : view === 'chat' ? (
          <ChatView agentId={agentId} agentName={agentName} />
        ) : (
          <MemoriesView key={agentId} agentId={agentId} agentName={agentName} />
        )}
      </main>
      <UpdatePrompt />
    </>
  );
}
