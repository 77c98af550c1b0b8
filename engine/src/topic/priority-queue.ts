/**
 * An indexed binary heap: a priority queue whose items can also be found, removed or re-sifted
 * by key in O(log n). The order is given by `less`, which must be a strict total order on the
 * items held (ties broken by the caller), so that every query answers the same on every
 * replica whatever the heap's internal layout.
 */
export class IndexedHeap<K, V> {
  private readonly items: V[] = [];
  private readonly pos = new Map<K, number>();

  constructor(
    private readonly less: (a: V, b: V) => boolean,
    private readonly keyOf: (v: V) => K,
  ) {}

  get size(): number {
    return this.items.length;
  }

  has(key: K): boolean {
    return this.pos.has(key);
  }

  /** The best item, without removing it. */
  peek(): V | undefined {
    return this.items[0];
  }

  push(v: V): void {
    const key = this.keyOf(v);
    if (this.pos.has(key)) throw new Error(`IndexedHeap: key ${String(key)} already present`);
    this.items.push(v);
    this.pos.set(key, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  /** Removes and returns the best item. */
  pop(): V | undefined {
    const top = this.items[0];
    if (top === undefined) return undefined;
    this.removeAt(0);
    return top;
  }

  /** Removes the item with this key; returns it (undefined when absent). */
  remove(key: K): V | undefined {
    const i = this.pos.get(key);
    if (i === undefined) return undefined;
    const v = this.items[i] as V;
    this.removeAt(i);
    return v;
  }

  /** Restores the heap order after the ordering fields of the item with this key changed. */
  update(key: K): void {
    const i = this.pos.get(key);
    if (i === undefined) return;
    this.down(this.up(i));
  }

  /** The best `k` items in order, without changing the heap: O(k log k). */
  top(k: number): V[] {
    const out: V[] = [];
    if (k <= 0 || this.items.length === 0) return out;
    // A small heap of indices into `items`, ordered by the items they point at.
    const frontier: number[] = [0];
    const lessAt = (a: number, b: number): boolean => this.less(this.items[a] as V, this.items[b] as V);
    while (out.length < k && frontier.length > 0) {
      const best = frontier[0] as number;
      const last = frontier.pop() as number;
      if (frontier.length > 0) {
        frontier[0] = last;
        siftDown(frontier, 0, lessAt);
      }
      out.push(this.items[best] as V);
      for (const child of [2 * best + 1, 2 * best + 2]) {
        if (child < this.items.length) {
          frontier.push(child);
          siftUp(frontier, frontier.length - 1, lessAt);
        }
      }
    }
    return out;
  }

  /** Every item, in no particular order. */
  values(): readonly V[] {
    return this.items;
  }

  clear(): void {
    this.items.length = 0;
    this.pos.clear();
  }

  private removeAt(i: number): void {
    const removed = this.items[i] as V;
    const last = this.items.pop() as V;
    this.pos.delete(this.keyOf(removed));
    if (i < this.items.length) {
      this.items[i] = last;
      this.pos.set(this.keyOf(last), i);
      this.down(this.up(i));
    }
  }

  private swap(i: number, j: number): void {
    const a = this.items[i] as V;
    const b = this.items[j] as V;
    this.items[i] = b;
    this.items[j] = a;
    this.pos.set(this.keyOf(b), i);
    this.pos.set(this.keyOf(a), j);
  }

  private up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.items[i] as V, this.items[parent] as V)) break;
      this.swap(i, parent);
      i = parent;
    }
    return i;
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < n && this.less(this.items[l] as V, this.items[best] as V)) best = l;
      if (r < n && this.less(this.items[r] as V, this.items[best] as V)) best = r;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }
}

function siftUp(a: number[], i: number, less: (x: number, y: number) => boolean): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(a[i] as number, a[p] as number)) return;
    [a[i], a[p]] = [a[p] as number, a[i] as number];
    i = p;
  }
}

function siftDown(a: number[], i: number, less: (x: number, y: number) => boolean): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let best = i;
    if (l < a.length && less(a[l] as number, a[best] as number)) best = l;
    if (r < a.length && less(a[r] as number, a[best] as number)) best = r;
    if (best === i) return;
    [a[i], a[best]] = [a[best] as number, a[i] as number];
    i = best;
  }
}
