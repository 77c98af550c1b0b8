/**
 * The simulated network: per-message delay (so reordering), loss and duplication at rates drawn
 * per seed, and partitions as a set of blocked directed links (so asymmetric ones too).
 */
import type { Message, NodeId, Random } from '../../src/raft/index.js';

export interface NetworkProfile {
  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly minDelay: number;
  readonly maxDelay: number;
  /** Chance that a message takes a long detour (up to spikeDelay), overtaken by later ones. */
  readonly spikeRate: number;
  readonly spikeDelay: number;
}

export function randomProfile(rng: Random): NetworkProfile {
  return {
    lossRate: rng.pick([0, 0, 0.01, 0.05, 0.1]),
    duplicateRate: rng.pick([0, 0.01, 0.05]),
    minDelay: 1,
    maxDelay: rng.int(2, 10),
    spikeRate: rng.pick([0, 0.01, 0.03]),
    spikeDelay: rng.int(20, 80),
  };
}

export class Network {
  private readonly blocked = new Set<string>();
  sent = 0;
  dropped = 0;

  constructor(
    private readonly rng: Random,
    private profile: NetworkProfile,
  ) {}

  /** The network stops losing, duplicating and badly delaying messages (the healing phase). */
  calm(): void {
    this.profile = { ...this.profile, lossRate: 0, duplicateRate: 0, spikeRate: 0 };
  }

  /** The delivery delays for one message: none (lost), one, or two (duplicated). */
  route(m: Message): number[] {
    this.sent++;
    if (this.blocked.has(link(m.from, m.to)) || this.rng.chance(this.profile.lossRate)) {
      this.dropped++;
      return [];
    }
    const delays = [this.delay()];
    if (this.rng.chance(this.profile.duplicateRate)) delays.push(this.delay());
    return delays;
  }

  /** Whether a message in flight still gets through when it arrives (partitions cut it). */
  open(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(link(from, to));
  }

  private delay(): number {
    const p = this.profile;
    if (this.rng.chance(p.spikeRate)) return this.rng.int(p.maxDelay, p.spikeDelay);
    return this.rng.int(p.minDelay, p.maxDelay);
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(link(from, to));
  }

  /** Cuts every link between the two sides, both ways. */
  split(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) for (const y of b) {
      this.block(x, y);
      this.block(y, x);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  describe(): string {
    return this.blocked.size === 0 ? 'fully connected' : `blocked ${[...this.blocked].sort().join(' ')}`;
  }
}

function link(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}
