/**
 * `leviathan-engine`: the engine process. `--help` lists every flag and its environment variable.
 *
 * Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 2 for bad configuration, 3 when the data
 * directory is corrupt (the member must be rebuilt from its peers), 1 for anything else.
 */
import { pino } from 'pino';
import { CommanderError } from 'commander';
import { CorruptStorageError } from '../storage/index.js';
import { ConfigError, parseConfig } from './config.js';
import type { EngineConfig } from './config.js';
import { startEngine } from './engine.js';
import type { Engine } from './engine.js';

async function main(): Promise<void> {
  let config: EngineConfig;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (err instanceof ConfigError) {
      console.error(`leviathan-engine: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { name: config.name } });
  let engine: Engine;
  try {
    engine = await startEngine(config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.fatal(err.message);
      console.error(`leviathan-engine: ${err.message}`);
      process.exit(2);
    }
    if (err instanceof CorruptStorageError) {
      logger.fatal({ file: err.file, group: err.groupId, index: err.index }, err.message);
      console.error(`leviathan-engine: ${err.message}`);
      process.exit(3);
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: handing leadership over');
    engine.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('leviathan-engine: fatal:', err);
  process.exit(1);
});
