import { describe, expect, it } from 'vitest';
import { createFirstVisit } from './first-visit';

describe('the first visit', () => {
  it('refreshes at once until a refresh succeeds, then never again, reading storage once', async () => {
    let reads = 0;
    const refreshes: string[] = [];
    let isServerUp = false;
    const firstVisit = createFirstVisit({
      hasSucceeded: async () => {
        reads += 1;
        return false;
      },
      refresh: async () => {
        refreshes.push(isServerUp ? 'ok' : 'failed');
        if (!isServerUp) throw new Error('down');
      },
    });
    await firstVisit();
    await firstVisit();
    isServerUp = true;
    await firstVisit();
    await firstVisit();
    expect(refreshes).toEqual(['failed', 'failed', 'ok']);
    expect(reads).toBe(1);
  });

  it('does nothing for a browser that has synced before', async () => {
    let refreshed = false;
    const firstVisit = createFirstVisit({
      hasSucceeded: async () => true,
      refresh: async () => {
        refreshed = true;
      },
    });
    await firstVisit();
    expect(refreshed).toBe(false);
  });
});
