import { describe, expect, it } from 'vitest';
import { confirmed, forgotten, isJoined, joinedCount, listenedTo, noChannels, releasedFrom, unjoined } from './upstream-channels';

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';

describe('the channels the upstream socket keeps', () => {
  it('needs a join for a channel heard of the first time only', () => {
    const first = listenedTo(noChannels, A);
    expect(first.isNew).toBe(true);
    const second = listenedTo(first.channels, A);
    expect(second.isNew).toBe(false);
    expect(second.channels.get(A)).toEqual({ listeners: 2, joined: false });
  });

  it('lingers once its last listener left, and is forgotten only if nobody listens again', () => {
    let channels = listenedTo(listenedTo(noChannels, A).channels, A).channels;
    const once = releasedFrom(channels, A);
    expect(once.isIdle).toBe(false);
    const twice = releasedFrom(once.channels, A);
    expect(twice.isIdle).toBe(true);
    channels = twice.channels;
    expect(forgotten(listenedTo(channels, A).channels, A).has(A)).toBe(true);
    expect(forgotten(channels, A).has(A)).toBe(false);
  });

  it('leaves a release of a channel it does not keep alone', () => {
    expect(releasedFrom(noChannels, A)).toEqual({ channels: noChannels, isIdle: false });
  });

  it('counts a join once ElizaOS confirms it, and tells of it once per connection', () => {
    const kept = listenedTo(listenedTo(noChannels, A).channels, B).channels;
    const join = confirmed(kept, A);
    expect(join.isNewJoin).toBe(true);
    expect(isJoined(join.channels, A)).toBe(true);
    expect(joinedCount(join.channels)).toBe(1);
    expect(confirmed(join.channels, A).isNewJoin).toBe(false);
    // A confirmation of a channel not kept (ElizaOS has no leave) is not ours.
    expect(confirmed(join.channels, 'cccccccc-0000-4000-8000-000000000003').isNewJoin).toBe(false);
    // A new connection: every join is to be made again.
    const again = unjoined(join.channels);
    expect(joinedCount(again)).toBe(0);
    expect(confirmed(again, A).isNewJoin).toBe(true);
  });

  it('never changes the table it is given', () => {
    const kept = listenedTo(noChannels, A).channels;
    confirmed(kept, A);
    releasedFrom(kept, A);
    listenedTo(kept, A);
    expect(kept.get(A)).toEqual({ listeners: 1, joined: false });
    expect(noChannels.size).toBe(0);
  });
});
