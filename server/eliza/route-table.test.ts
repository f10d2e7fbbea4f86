import express from 'express';
import { describe, expect, it } from 'vitest';
import { routeTable } from './route-table';

describe('routeTable', () => {
  it('lists every method and full path of nested routers', () => {
    const app = express();
    const agents = express.Router();
    agents.get('/', () => undefined);
    agents.delete('/:agentId', () => undefined);
    agents
      .route('/:agentId/memories')
      .get(() => undefined)
      .patch(() => undefined);
    const env = express.Router();
    env.get('/local', () => undefined);
    env.post('/local', () => undefined);
    const system = express.Router();
    system.use('/env', env);
    const api = express.Router();
    api.use((_req, _res, next) => next());
    api.use('/agents', agents);
    api.use('/system', system);
    app.use('/api', api);
    app.get('/healthz', () => undefined);
    expect(routeTable(app)).toEqual([
      { method: 'GET', path: '/api/agents' },
      { method: 'DELETE', path: '/api/agents/:agentId' },
      { method: 'GET', path: '/api/agents/:agentId/memories' },
      { method: 'PATCH', path: '/api/agents/:agentId/memories' },
      { method: 'GET', path: '/api/system/env/local' },
      { method: 'POST', path: '/api/system/env/local' },
      { method: 'GET', path: '/healthz' },
    ]);
  });
});
