import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/kube/work-queue.js';
import { FakeClock } from './fake-clock.js';

/** get() that must already have an answer (the queue resolves synchronously-available keys at once). */
async function next(q: WorkQueue): Promise<string | null | 'pending'> {
  return Promise.race([q.get(), new Promise<'pending'>((r) => setTimeout(() => r('pending'), 5))]);
}

describe('WorkQueue', () => {
  it('coalesces a key added twice while queued, and keeps FIFO order', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands out a key being processed; a re-add while processing queues it once after done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0);
    const waiting = q.get(); // a second worker
    let got: string | null | undefined;
    void waiting.then((k) => (got = k));
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toBeUndefined();
    q.done('a');
    expect(await waiting).toBe('a');
    q.done('a');
    expect(await next(q)).toBe('pending');
  });

  it('done() without a re-add does not queue the key again', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    await q.get();
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('wakes a waiting get() on add', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
  });

  it('addAfter: the key is due after the delay; the earliest pending time wins', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000); // later: ignored
    q.addAfter('a', 300); // earlier: replaces
    expect(clock.pending).toBe(1);
    clock.advance(299);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    clock.advance(10_000);
    expect(q.length).toBe(1); // the replaced timers do not fire
    expect(await q.get()).toBe('a');
  });

  it('addAfter coalesces with a queued key and with zero delay acts like add', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    q.addAfter('a', 100);
    q.addAfter('b', 0);
    expect(q.length).toBe(2);
    clock.advance(100);
    expect(q.length).toBe(2);
  });

  it('addRateLimited: base*2^n per key, capped, reset by forget', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = clock.now();
      q.addRateLimited('a');
      // when it becomes due (bounded: a bug must fail, not spin)
      for (let waited = 0; q.length === 0 && waited < 10_000; waited++) clock.advance(1);
      delays.push(clock.now() - t0);
      q.done((await q.get())!);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(q.numRequeues('a')).toBe(6);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    q.addRateLimited('b');
    clock.advance(100);
    expect(q.length).toBeGreaterThan(0);
  });

  it('backoff is per key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100 });
    q.addRateLimited('a');
    q.addRateLimited('a'); // earliest pending (100) stays
    q.addRateLimited('b');
    clock.advance(100);
    expect(q.length).toBe(2);
  });

  it('shutDown: waiting and later get()s resolve null, timers are cleared, adds are ignored', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter('late', 1000);
    q.shutDown();
    expect(await waiting).toBeNull();
    expect(clock.pending).toBe(0);
    q.add('x');
    q.addRateLimited('y');
    expect(q.length).toBe(0);
    expect(await q.get()).toBeNull();
    q.done('x'); // harmless
  });

  it('shutDown drops queued keys', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.shutDown();
    expect(q.length).toBe(0);
    expect(await q.get()).toBeNull();
  });
});
