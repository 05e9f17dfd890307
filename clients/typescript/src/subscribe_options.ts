/**
 * What a resuming subscription (`subscribeEvents`) can be told: its
 * filter, where it starts, where it keeps its position, how it reconnects,
 * and the callbacks that report control messages and reconnections.
 *
 * @module
 */

import type { MessageInitShape } from "@bufbuild/protobuf";

import type { Backoff, BackoffOptions } from "./backoff.js";
import type { CheckpointStore } from "./checkpoint.js";
import type {
  SubscribeRequestSchema,
  SubscribeResponse,
} from "./gen/clerkrelay/v1/event_service_pb.js";

/** What to subscribe to; the start is the subscription's own business. */
export type SubscribeFilter = Omit<
  MessageInitShape<typeof SubscribeRequestSchema>,
  "start" | "$typeName"
>;

/** A control message: every response that is not a batch of events. */
export type ControlMessage = Exclude<
  SubscribeResponse["response"],
  { case: "events" } | { case: undefined }
>;

/** Why and when a subscription calls Subscribe again. */
export interface Reconnect {
  /** What ended the previous call, e.g. `Unavailable: …` or `no message for 30000 ms`. */
  reason: string;
  /** Consecutive failed attempts so far (1 after the first). */
  failures: number;
  /** How long it waits before calling again. */
  delayMs: number;
  /** Where it resumes: after this sequence, or live when `undefined`. */
  position: bigint | undefined;
}

/** How a subscription starts, reconnects and records progress. */
export interface SubscribeOptions {
  /**
   * Start after this sequence (`0n`: the whole retained log). `undefined`:
   * live, unless the checkpoint holds a position. With both, the later wins.
   */
  afterSequence?: bigint | undefined;
  /** Where the position is loaded from (once) and saved to. */
  checkpoint?: CheckpointStore | undefined;
  /** Aborting it ends the iteration (after saving the acknowledged position). */
  signal?: AbortSignal | undefined;
  /** The reconnection policy; the default retries for ever. */
  backoff?: Backoff | BackoffOptions | undefined;
  /**
   * Reconnect when no message (not even a heartbeat) arrives for this long.
   * `null` waits for ever. Defaults to 30 000; keep it well above the
   * server's heartbeat interval (5 s by default).
   */
  idleTimeoutMs?: number | null | undefined;
  /**
   * End the iteration at the first `caughtUp`: once every event stored when
   * the subscription (re)started has been yielded (a replay).
   */
  untilCaughtUp?: boolean | undefined;
  /** Called with every control message, after the position has taken it in. */
  onControl?: ((message: ControlMessage) => void) | undefined;
  /** Called before each wait for a reconnection. */
  onReconnect?: ((reconnect: Reconnect) => void) | undefined;
}
