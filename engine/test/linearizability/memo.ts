/**
 * Lowe's memo table, extended for unknown outcomes.
 *
 * A configuration is (K, U, S): the linearized operations with known outcome, the linearized
 * operations with unknown outcome, and the model state. Plain memoization prunes a configuration
 * equal to one already explored. Here a configuration is also pruned when an explored one has the
 * same K and S and a SUBSET of its U: unknown operations never have to be linearized and never
 * constrain other operations (they have no return), so every completion of (K, U, S) is also a
 * completion of (K, U', S) for U' ⊆ U. Explored configurations are failed or on the current
 * search path; either way pruning is complete (a shortest completion reaches an unpruned one).
 * Without this, each pending unknown write multiplies the search by re-exploring every dead end
 * with and without it.
 *
 * Lookups go by (state key, hash of K) and then compare K exactly, so a hash collision costs a
 * comparison, never a wrong prune (which could turn a linearizable history into 'illegal').
 */

/** A fixed-size set of small integers, with an incrementally maintained 53-bit hash. */
export class Bitset {
  readonly words: Uint32Array;
  // Zobrist hashing: the hash is the XOR of a random pair per member, so set/clear are O(1).
  private readonly z1: Uint32Array;
  private readonly z2: Uint32Array;
  private h1 = 0;
  private h2 = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
    this.z1 = new Uint32Array(size);
    this.z2 = new Uint32Array(size);
    let seed = 0x2545f491; // fixed: runs are reproducible
    const rand = (): number => {
      // splitmix32
      seed = (seed + 0x9e3779b9) >>> 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < size; i++) {
      this.z1[i] = rand();
      this.z2[i] = rand();
    }
  }

  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  set(i: number): void {
    if (this.has(i)) return;
    this.words[i >>> 5]! |= 1 << (i & 31);
    this.h1 ^= this.z1[i]!;
    this.h2 ^= this.z2[i]!;
  }

  clear(i: number): void {
    if (!this.has(i)) return;
    this.words[i >>> 5]! &= ~(1 << (i & 31));
    this.h1 ^= this.z1[i]!;
    this.h2 ^= this.z2[i]!;
  }

  /** A hash of the members, as a safe integer (a Map key that needs no string building). */
  hash(): number {
    return (this.h1 >>> 0) * 0x200000 + (this.h2 >>> 11);
  }

  /** Same members as `other` (a snapshot of a same-sized set). */
  equals(other: Uint32Array): boolean {
    for (let w = 0; w < other.length; w++) if (other[w] !== this.words[w]) return false;
    return true;
  }

  /** True when every element of `other` (a snapshot of a same-sized set) is in this set. */
  includes(other: Uint32Array): boolean {
    for (let w = 0; w < other.length; w++) if ((other[w]! & ~this.words[w]!) !== 0) return false;
    return true;
  }

  /** True when every element of this set is in `other`. */
  within(other: Uint32Array): boolean {
    for (let w = 0; w < other.length; w++) if ((this.words[w]! & ~other[w]!) !== 0) return false;
    return true;
  }
}

interface Explored {
  /** K, exactly: the hash only narrows the search, it never decides (no false prunes). */
  readonly known: Uint32Array;
  /** The minimal U sets explored with this K and S (an antichain under ⊆). */
  unknowns: Uint32Array[];
}

export class MemoTable {
  /** state key -> hash of K -> explored configurations. */
  private readonly table = new Map<string, Map<number, Explored[]>>();

  /**
   * Record (known, unknown, stateKey) as explored, unless an explored configuration already
   * dominates it, in which case return false (prune it).
   */
  visit(known: Bitset, unknown: Bitset, stateKey: string): boolean {
    let byHash = this.table.get(stateKey);
    if (byHash === undefined) this.table.set(stateKey, (byHash = new Map()));
    const h = known.hash();
    let bucket = byHash.get(h);
    if (bucket === undefined) byHash.set(h, (bucket = []));
    const entry = bucket.find((e) => known.equals(e.known));
    if (entry === undefined) {
      bucket.push({ known: known.words.slice(), unknowns: [unknown.words.slice()] });
      return true;
    }
    for (const u of entry.unknowns) if (unknown.includes(u)) return false;
    // Entries that the new one dominates are now redundant.
    entry.unknowns = entry.unknowns.filter((u) => !unknown.within(u));
    entry.unknowns.push(unknown.words.slice());
    return true;
  }
}
