/**
 * Where a subscription keeps its position, so a restarted consumer resumes
 * instead of replaying.
 *
 * A position is a log sequence: "every event up to here has been handled".
 * {@link subscribeEvents} loads it once when the subscription starts and saves
 * it as the consumer makes progress (see `subscribe.ts` for exactly when).
 * {@link FileCheckpoint} survives restarts and reads and writes the same files
 * as the Python client's `FileCheckpoint`; {@link MemoryCheckpoint} lives as
 * long as the object. Anything with the same two methods works too (a
 * database row, a key in Redis): {@link CheckpointStore} is an interface, and both
 * methods may return promises.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";

/** Loads and saves a subscription's position. */
export interface CheckpointStore {
  /** The saved sequence, or `undefined` when nothing was saved yet. */
  load(): bigint | undefined | Promise<bigint | undefined>;
  /** Records that every event up to `sequence` has been handled. */
  save(sequence: bigint): void | Promise<void>;
}

/** A position held in memory (tests, or subscriptions in one process sharing progress). */
export class MemoryCheckpoint implements CheckpointStore {
  /** The last saved position (`undefined` until the first save, unless given). */
  sequence: bigint | undefined;
  /** How many times {@link save} was called. */
  saves = 0;

  /**
   * @param sequence - The initial position; `undefined` means "nothing saved".
   */
  constructor(sequence?: bigint) {
    this.sequence = sequence;
  }

  /** The last saved position. */
  load(): bigint | undefined {
    return this.sequence;
  }

  /** Keeps `sequence` as the position. */
  save(sequence: bigint): void {
    this.sequence = sequence;
    this.saves += 1;
  }
}

/** How a {@link FileCheckpoint} writes. */
export interface FileCheckpointOptions {
  /**
   * `fsync` each save, so the position survives a power loss and not only a
   * crash of the process. Costs a disk flush per save. Defaults to true.
   */
  durable?: boolean;
}

/**
 * A position kept in a small text file: the sequence in decimal, and a newline.
 *
 * Saving writes a temporary file in the same directory (`.<name>.<random>`),
 * flushes it (and `fsync`s it unless `durable: false`), then renames it over
 * the old one: a crash leaves either the old position or the new one, never a
 * torn file. The directory is created when missing. The format and the
 * procedure are the Python client's, so both can share one file.
 */
export class FileCheckpoint implements CheckpointStore {
  /** The file. */
  readonly path: string;
  readonly #durable: boolean;

  /**
   * @param path - The file.
   * @param options - Whether each save is flushed to disk.
   */
  constructor(path: string, options: FileCheckpointOptions = {}) {
    if (path === "") {
      throw new TypeError("a checkpoint needs a file path");
    }
    this.path = path;
    this.#durable = options.durable ?? true;
  }

  /**
   * The saved sequence; `undefined` when the file does not exist.
   *
   * @throws {Error} When the file exists but does not hold a sequence, or
   *   cannot be read.
   */
  async load(): Promise<bigint | undefined> {
    let text: string;
    try {
      text = (await readFile(this.path, "latin1")).trim();
    } catch (error) {
      if (isErrno(error, "ENOENT")) {
        return undefined;
      }
      throw error;
    }
    if (!/^\d+$/.test(text)) {
      throw new Error(
        `${this.path} does not hold a sequence number: ${JSON.stringify(text.slice(0, 40))}`,
      );
    }
    return BigInt(text);
  }

  /**
   * Atomically replaces the file's content with `sequence`.
   *
   * @throws {RangeError} When `sequence` is negative.
   * @throws {Error} When the file cannot be written (no temporary file is left).
   */
  async save(sequence: bigint): Promise<void> {
    if (sequence < 0n) {
      throw new RangeError("a sequence is never negative");
    }
    const directory = dirname(this.path);
    await mkdir(directory, { recursive: true });
    const temporary = `${directory}/.${basename(this.path)}.${randomBytes(6).toString("hex")}`;
    try {
      const file = await open(temporary, "wx", 0o600);
      try {
        await file.writeFile(`${sequence}\n`, "ascii");
        if (this.#durable) {
          await file.sync();
        }
      } finally {
        await file.close();
      }
      await rename(temporary, this.path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
