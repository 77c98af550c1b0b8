/**
 * The physical limit on durable writes: how many "append a block, then fdatasync" operations per
 * second the disk under a directory sustains, one at a time, with p50/p99 latency. Replicated-write
 * benchmarks print it beside their own numbers, since a write cannot be acknowledged faster than
 * its log append becomes durable (unless several writes share one sync).
 *
 * Each operation appends `writeBytes` at the end of a file and calls fdatasync. Appending grows the
 * file, so each sync also persists the new size, as a write-ahead log's appends do; the latency
 * timed is the write plus the sync. The file is removed afterwards.
 *
 *   npx tsx engine/bench/fsync-rate.ts [--dir D] [--seconds S] [--write-bytes B]
 *
 * --dir defaults to the current directory: point it at the disk the engine's data will live on.
 * On tmpfs fdatasync does nothing and the number is meaningless (the script says so).
 */
import { closeSync, fdatasyncSync, ftruncateSync, openSync, realpathSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface FdatasyncResult {
  /** Completed append+fdatasync operations per second of measured time. */
  readonly opsPerSecond: number;
  /** Median latency of one append+fdatasync, in milliseconds. */
  readonly p50Ms: number;
  /** 99th-percentile latency of one append+fdatasync, in milliseconds. */
  readonly p99Ms: number;
}

/**
 * Once the file reaches this size it is truncated back to empty (outside the timed section), so a
 * fast device, or a filesystem where the sync is free, does not fill the disk during the run.
 */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Nearest-rank percentile of an ascending array; 0 if empty. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

/**
 * Measure sequential append+fdatasync on a fresh file in `dir` (which must exist) for `seconds`
 * (default 2), appending `writeBytes` (default 4096) per operation. Synchronous I/O on purpose: it
 * measures the device and the filesystem, not the thread pool. Blocks the event loop meanwhile.
 */
export async function measureFdatasync(dir: string, opts?: { seconds?: number; writeBytes?: number }): Promise<FdatasyncResult> {
  const seconds = opts?.seconds ?? 2;
  const writeBytes = opts?.writeBytes ?? 4096;
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new RangeError(`seconds must be a positive number, got ${seconds}`);
  if (!Number.isInteger(writeBytes) || writeBytes <= 0) throw new RangeError(`writeBytes must be a positive integer, got ${writeBytes}`);

  // Non-zero bytes, in case a filesystem treats zero blocks specially.
  const block = Buffer.alloc(writeBytes, 0xa5);
  const path = join(dir, `.fsync-rate-${process.pid}-${Date.now()}.tmp`);
  // 'ax': append-only, and fail rather than clobber an existing file.
  const fd = openSync(path, 'ax');
  try {
    // One untimed operation first, so that the file's creation is not charged to the first sample.
    writeSync(fd, block);
    fdatasyncSync(fd);
    let fileBytes = writeBytes;

    let latencies = new Float64Array(1024);
    let count = 0;
    const budget = BigInt(Math.round(seconds * 1e9));
    let measured = 0n;
    while (measured < budget) {
      if (fileBytes + writeBytes > MAX_FILE_BYTES) {
        ftruncateSync(fd, 0);
        fdatasyncSync(fd);
        fileBytes = 0;
      }
      const start = process.hrtime.bigint();
      writeSync(fd, block);
      fdatasyncSync(fd);
      const elapsed = process.hrtime.bigint() - start;
      fileBytes += writeBytes;
      measured += elapsed;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = Number(elapsed) / 1e6;
    }

    const sorted = latencies.subarray(0, count).sort();
    return {
      opsPerSecond: count / (Number(measured) / 1e9),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
    };
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}

/** statfs magic number of tmpfs (linux/magic.h), on which fdatasync is a no-op. */
const TMPFS_MAGIC = 0x01021994;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '.' },
      seconds: { type: 'string', default: '2' },
      'write-bytes': { type: 'string', default: '4096' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: npx tsx engine/bench/fsync-rate.ts [--dir D] [--seconds S] [--write-bytes B]');
    return;
  }
  const dir = resolve(values.dir);
  const seconds = Number(values.seconds);
  const writeBytes = Number(values['write-bytes']);
  let note = '';
  try {
    if (statfsSync(dir).type === TMPFS_MAGIC) note = ' [tmpfs: fdatasync is a no-op, not a disk limit]';
  } catch {
    // statfs is only a hint; the measurement itself reports real errors.
  }
  const r = await measureFdatasync(dir, { seconds, writeBytes });
  console.log(
    `fdatasync: ${Math.round(r.opsPerSecond).toLocaleString('en-US')} ops/s, p50 ${r.p50Ms.toFixed(3)} ms, ` +
      `p99 ${r.p99Ms.toFixed(3)} ms (${writeBytes}-byte appends, ${seconds} s, ${dir})${note}`,
  );
}

// Run only when executed directly, not when imported by another benchmark.
const invoked = process.argv[1];
if (invoked !== undefined && realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
