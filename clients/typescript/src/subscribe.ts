/**
 * A Subscribe call that survives disconnects, restarts and idle connections:
 * {@link subscribeEvents}, the TypeScript twin of the Python client's
 * `EventStream`.
 *
 * The subscription keeps a *position*: the highest sequence it has yielded,
 * or that the server reported as examined (`checkpoint`, `caughtUp`,
 * `fellBehind`), whichever is later. When the call fails with a retryable
 * status ({@link RETRYABLE_CODES}), ends cleanly (a server shutting down), or
 * stays silent longer than the idle timeout (the server sends heartbeats on
 * an idle stream, so silence means the stream is stuck), it waits
 * ({@link Backoff}) and calls Subscribe again with `afterSequence = position`.
 * Every matching event therefore reaches the caller at least once, in
 * sequence order; events at or below the position are dropped, so a caller
 * sees each sequence once per subscription. Any other status
 * (InvalidArgument, Unauthenticated, OutOfRange, …) is thrown as the
 * `ConnectError` it is: retrying cannot fix it.
 *
 * A subscription that starts live (no `afterSequence`, no saved checkpoint)
 * has no position until the server's first `caughtUp`, which it sends at
 * once; if the connection fails before that, the retry starts live again.
 *
 * Checkpoints. With a {@link CheckpointStore}, the subscription saves the
 * *acknowledged* position: the sequence of the last event the caller has come
 * back from (asked for the next one after it), or a server-reported position
 * once every yielded event is acknowledged. It saves after the caller has come
 * back from the last event of each batch, on every `checkpoint`, `caughtUp`
 * and `fellBehind` message (so a sparse filter still makes progress), and when
 * the iteration ends: `break`, `return()`, the `signal` aborting, an error.
 * The event being handled when the subscription is closed is not
 * acknowledged, unless the caller said so with
 * {@link EventSubscription.acknowledge}: the next subscription that loads the
 * same checkpoint delivers it again (at-least-once). Saves never move the
 * position backwards.
 *
 * @module
 */

import { Code, ConnectError } from "@connectrpc/connect";

import { Backoff } from "./backoff.js";
import type { EventClient } from "./client.js";
import type { Event } from "./gen/clerkrelay/v1/event_pb.js";
import type { SubscribeResponse } from "./gen/clerkrelay/v1/event_service_pb.js";
import type { SubscribeFilter, SubscribeOptions } from "./subscribe_options.js";

/** Statuses after which a subscription reconnects; every other one is thrown. */
export const RETRYABLE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable, // unreachable, restarting, connection dropped
  Code.Aborted,
  Code.Canceled, // cancelled by the server (our own abort never gets here)
]);

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** Why one Subscribe call ended without a failure of ours to throw. */
type Interruption = { reason: string } | "closed" | "done";

/**
 * The events of a resuming subscription (see the module documentation).
 *
 * Iterate it once with `for await`. Leaving the loop (`break`, `return`, an
 * exception) or aborting the `signal` cancels the call and saves the
 * acknowledged position.
 */
export class EventSubscription implements AsyncIterableIterator<Event> {
  #position: bigint | undefined;
  #acknowledged: bigint | undefined;
  #yielded: bigint | undefined;
  #saved: bigint | undefined;
  #caughtUp = false;
  #reconnects = 0;
  readonly #events: EventClient;
  readonly #filter: SubscribeFilter;
  readonly #options: SubscribeOptions;
  readonly #backoff: Backoff;
  readonly #idleTimeoutMs: number | null;
  readonly #generator: AsyncGenerator<Event, void, undefined>;

  /**
   * @param events - The event service client (see `createRelayClients`).
   * @param filter - Event types, entity ids, organization, batch size.
   * @param options - Start, checkpoint, cancellation, backoff, idle timeout.
   * @throws {RangeError} When `afterSequence` is negative or the idle timeout
   *   is not positive.
   */
  constructor(events: EventClient, filter: SubscribeFilter = {}, options: SubscribeOptions = {}) {
    if (options.afterSequence !== undefined && options.afterSequence < 0n) {
      throw new RangeError("afterSequence must not be negative");
    }
    const idle =
      options.idleTimeoutMs === undefined ? DEFAULT_IDLE_TIMEOUT_MS : options.idleTimeoutMs;
    if (idle !== null && !(idle > 0)) {
      throw new RangeError("idleTimeoutMs must be positive (or null)");
    }
    this.#events = events;
    this.#filter = { ...filter };
    this.#options = options;
    this.#backoff =
      options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
    this.#idleTimeoutMs = idle;
    this.#generator = this.#run();
  }

  /**
   * The sequence a reconnect resumes after; `undefined` before the first
   * `next()` (which loads the checkpoint) and while a live start has none yet.
   */
  get position(): bigint | undefined {
    return this.#position;
  }

  /** True between a `caughtUp` message and the next reconnect or `fellBehind`. */
  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** How many times the subscription has called Subscribe again. */
  get reconnects(): number {
    return this.#reconnects;
  }

  [Symbol.asyncIterator](): EventSubscription {
    return this;
  }

  /** The next event; the first call loads the checkpoint and calls Subscribe. */
  next(): Promise<IteratorResult<Event, void>> {
    return this.#generator.next();
  }

  /**
   * Stops: cancels the call and saves the acknowledged position. Called while
   * a `next()` is pending, it waits for that one to settle: abort the
   * `signal` to interrupt a wait for the next event.
   */
  async return(): Promise<IteratorResult<Event, void>> {
    return this.#generator.return(undefined);
  }

  /**
   * Marks the event last yielded as handled now, instead of when the next one
   * is asked for: a `break` right after it then saves it too (a consumer that
   * stops after a known number of events uses it).
   */
  acknowledge(): void {
    const yielded = this.#yielded;
    const acknowledged = this.#acknowledged;
    if (yielded !== undefined && (acknowledged === undefined || yielded > acknowledged)) {
      this.#acknowledged = yielded;
    }
  }

  /** Same as {@link return}, for code that is not a `for await` loop. */
  async close(): Promise<void> {
    await this.#generator.return(undefined);
  }

  async *#run(): AsyncGenerator<Event, void, undefined> {
    const { checkpoint, signal } = this.#options;
    const saved = checkpoint === undefined ? undefined : await checkpoint.load();
    const after = this.#options.afterSequence;
    this.#position = after === undefined || (saved !== undefined && saved > after) ? saved : after;
    this.#acknowledged = this.#position;
    this.#saved = saved;
    let failures = 0;
    try {
      while (!isAborted(signal)) {
        const call = new AbortController();
        const stop = (): void => call.abort();
        signal?.addEventListener("abort", stop, { once: true });
        let outcome: Interruption = { reason: "the server ended the stream" };
        try {
          const start =
            this.#position === undefined
              ? { case: undefined }
              : { case: "afterSequence" as const, value: this.#position };
          const request = { ...this.#filter, start };
          const stream = this.#events.subscribe(request, { signal: call.signal });
          const messages = stream[Symbol.asyncIterator]();
          for (;;) {
            const next = await this.#read(messages, call);
            if (next === "idle") {
              outcome = { reason: `no message for ${this.#idleTimeoutMs} ms` };
              break;
            }
            if (next.done === true) {
              break;
            }
            failures = 0;
            const response = next.value.response;
            if (response.case === "events") {
              for (const event of response.value.events) {
                if (this.#position !== undefined && event.sequence <= this.#position) {
                  continue; // already yielded before a reconnect
                }
                if (isAborted(signal)) {
                  return; // aborted while the caller handled the previous event
                }
                this.#position = event.sequence;
                this.#yielded = event.sequence;
                yield event;
                this.#acknowledged = event.sequence;
              }
              await this.#save();
            } else if (response.case !== undefined) {
              if (response.case !== "heartbeat") {
                this.#advance(response.value.sequence);
                await this.#save();
                if (response.case !== "checkpoint") {
                  this.#caughtUp = response.case === "caughtUp";
                }
              }
              this.#options.onControl?.(response);
              if (this.#caughtUp && this.#options.untilCaughtUp === true) {
                outcome = "done";
                break;
              }
            }
          }
        } catch (error) {
          outcome = this.#interruption(error, signal);
        } finally {
          call.abort();
          signal?.removeEventListener("abort", stop);
        }
        if (outcome === "done" || outcome === "closed" || isAborted(signal)) {
          return;
        }
        failures += 1;
        this.#caughtUp = false;
        if (this.#backoff.exhausted(failures)) {
          throw new ConnectError(
            `gave up after ${failures} failed attempts (last: ${outcome.reason})`,
            Code.Unavailable,
          );
        }
        const delayMs = this.#backoff.delay(failures - 1);
        this.#options.onReconnect?.({
          reason: outcome.reason,
          failures,
          delayMs,
          position: this.#position,
        });
        await sleep(delayMs, signal);
        if (isAborted(signal)) {
          return;
        }
        this.#reconnects += 1;
      }
    } finally {
      await this.#save();
    }
  }

  /** The next message, or `"idle"` when none came within the idle timeout. */
  async #read(
    messages: AsyncIterator<SubscribeResponse>,
    call: AbortController,
  ): Promise<IteratorResult<SubscribeResponse> | "idle"> {
    const idleTimeoutMs = this.#idleTimeoutMs;
    if (idleTimeoutMs === null) {
      return messages.next();
    }
    let timer: NodeJS.Timeout | undefined;
    const silence = new Promise<"idle">((resolve) => {
      timer = setTimeout(() => resolve("idle"), idleTimeoutMs);
    });
    try {
      const next = await Promise.race([messages.next(), silence]);
      if (next === "idle") {
        call.abort(); // the pending read then fails, unobserved: the race has settled
      }
      return next;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sorts a failed call into "reconnect" or "stop", or rethrows what retrying
   * cannot fix: a status that is not retryable, or an error that is not the
   * call's (a checkpoint that cannot be saved, a callback that threw).
   */
  #interruption(error: unknown, signal: AbortSignal | undefined): Interruption {
    if (!(error instanceof ConnectError)) {
      throw error;
    }
    if (isAborted(signal)) {
      return "closed";
    }
    if (!RETRYABLE_CODES.has(error.code)) {
      throw error;
    }
    return { reason: `${Code[error.code]}: ${error.rawMessage}` };
  }

  /** Takes a server-reported position (every yielded event is acknowledged by now). */
  #advance(sequence: bigint): void {
    if (this.#position === undefined || sequence > this.#position) {
      this.#position = sequence;
    }
    this.#acknowledged = this.#position;
  }

  async #save(): Promise<void> {
    const acknowledged = this.#acknowledged;
    const checkpoint = this.#options.checkpoint;
    if (checkpoint === undefined || acknowledged === undefined) {
      return;
    }
    if (this.#saved !== undefined && acknowledged <= this.#saved) {
      return;
    }
    await checkpoint.save(acknowledged);
    this.#saved = acknowledged;
  }
}

/**
 * Subscribes to events; the subscription reconnects and resumes on its own.
 *
 * ```ts
 * const checkpoint = new FileCheckpoint("position");
 * for await (const event of subscribeEvents(events, { eventTypes: ["user.*"] }, { checkpoint })) {
 *   await handle(event); // saved once handled: a restart resumes after it
 * }
 * ```
 *
 * @param events - The event service client (see `createRelayClients`).
 * @param filter - Event types, entity ids, organization, batch size.
 * @param options - Start, checkpoint, cancellation, backoff, idle timeout.
 * @returns The events, in sequence order, each once.
 */
export function subscribeEvents(
  events: EventClient,
  filter: SubscribeFilter = {},
  options: SubscribeOptions = {},
): EventSubscription {
  return new EventSubscription(events, filter, options);
}

/** Whether `signal` has aborted (a call, so that narrowing never assumes it cannot change). */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (isAborted(signal)) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
