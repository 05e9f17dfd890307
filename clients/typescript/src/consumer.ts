/**
 * Durable consumer groups: {@link consume} joins a group and yields this
 * member's share of its events as {@link ConsumerMessage}s, each settled with
 * `ack()`, `nack()` or `term()`.
 *
 * ```ts
 * const { consumers } = createRelayClients({ target: "127.0.0.1:50051" });
 * for await (const msg of consume(consumers, "welcome-emails", {
 *   settings: { eventTypes: ["user.created"] },
 * })) {
 *   await sendWelcomeEmail(msg.event);
 *   msg.ack();
 * }
 * ```
 *
 * The stream joins the group again after a disconnect or a server restart
 * (UNAVAILABLE, CANCELED, ABORTED, or the server ending the call): the
 * server gives a departed member's unsettled deliveries to other members, so
 * a settlement of a message received before the rejoin does nothing. Any
 * other error (NOT_FOUND, FAILED_PRECONDITION, …) ends the iteration.
 *
 * @module
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

import type { ConsumerServiceClient } from "./client.js";

import type { Event } from "./gen/clerkrelay/v1/event_pb.js";
import {
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumerGroupSettingsSchema,
  type Delivery,
} from "./gen/clerkrelay/v1/consumer_service_pb.js";

/** How to join a group. */
export interface ConsumeOptions {
  /**
   * The group's settings: sent with the join, they create the group on first
   * use and must equal the stored ones otherwise. Omit them to join an
   * existing group as it is.
   */
  settings?: MessageInitShape<typeof ConsumerGroupSettingsSchema>;
  /** A label for this member (a host or pod name). */
  memberName?: string;
  /** Ends the stream when aborted. */
  signal?: AbortSignal;
  /** Wait before joining again after a disconnect, in ms (default 200). */
  retryDelayMs?: number;
}

const RETRYABLE = new Set([Code.Unavailable, Code.Canceled, Code.Aborted]);

/** A push-fed async iterable of requests: the member's side of the stream. */
class Outbox implements AsyncIterable<ConsumeRequest> {
  private readonly queued: ConsumeRequest[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  push(request: ConsumeRequest): void {
    if (this.closed) {
      return;
    }
    this.queued.push(request);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConsumeRequest> {
    for (;;) {
      const next = this.queued.shift();
      if (next !== undefined) {
        yield next;
      } else if (this.closed) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    }
  }
}

/** One delivery of an event to this member; settle it once. */
export class ConsumerMessage {
  /** The event, typed. */
  readonly event: Event;
  /** Which delivery of the event this is: 1 for the first. */
  readonly attempt: number;
  /** The server's id of this delivery. */
  readonly deliveryId: string;
  private readonly outbox: Outbox;
  private done = false;

  constructor(delivery: Delivery, outbox: Outbox) {
    if (delivery.event === undefined) {
      throw new TypeError(`delivery ${delivery.deliveryId} carries no event`);
    }
    this.event = delivery.event;
    this.attempt = delivery.attempt;
    this.deliveryId = delivery.deliveryId;
    this.outbox = outbox;
  }

  /** True once acked, nacked or termed. */
  get settled(): boolean {
    return this.done;
  }

  private settle(request: MessageInitShape<typeof ConsumeRequestSchema>): void {
    if (this.done) {
      throw new Error(`delivery ${this.deliveryId} is already settled`);
    }
    this.done = true;
    this.outbox.push(create(ConsumeRequestSchema, request));
  }

  /** Done: the event is not delivered again. */
  ack(): void {
    this.settle({ request: { case: "ack", value: { deliveryIds: [this.deliveryId] } } });
  }

  /**
   * Not done: deliver it again (to any member) after `delayMs`; after the
   * group's `max_deliveries` it is parked with `reason`.
   */
  nack(options: { delayMs?: number; reason?: string } = {}): void {
    const delayMs = options.delayMs ?? 0;
    if (!(delayMs >= 0 && delayMs <= 86_400_000)) {
      throw new RangeError("delayMs must be from 0 to 86400000");
    }
    const seconds = BigInt(Math.floor(delayMs / 1000));
    const nanos = Math.round((delayMs % 1000) * 1_000_000);
    this.settle({
      request: {
        case: "nack",
        value: {
          deliveryId: this.deliveryId,
          delay: { seconds, nanos },
          reason: options.reason ?? "",
        },
      },
    });
  }

  /** Never deliver it again: the event is parked with `reason` (it can be replayed). */
  term(reason = ""): void {
    this.settle({ request: { case: "term", value: { deliveryId: this.deliveryId, reason } } });
  }
}

/**
 * Joins a consumer group; yields this member's share of its events.
 *
 * @param client - A ConsumerService client ({@link createRelayClients}'s `consumers`).
 * @param group - The group's name.
 * @param options - Settings, member name, abort signal.
 */
export async function* consume(
  client: ConsumerServiceClient,
  group: string,
  options: ConsumeOptions = {},
): AsyncGenerator<ConsumerMessage> {
  const { settings, memberName = "", signal, retryDelayMs = 200 } = options;
  for (;;) {
    const outbox = new Outbox();
    outbox.push(
      create(ConsumeRequestSchema, {
        request: {
          case: "join",
          value: { name: group, memberName, ...(settings === undefined ? {} : { settings }) },
        },
      }),
    );
    try {
      const responses = client.consume(outbox, signal === undefined ? {} : { signal });
      for await (const response of responses) {
        const message = response.response;
        if (message.case === "deliveries") {
          for (const delivery of message.value.deliveries) {
            yield new ConsumerMessage(delivery, outbox);
          }
        }
      }
    } catch (error) {
      const failure = ConnectError.from(error);
      if (signal?.aborted === true || !RETRYABLE.has(failure.code)) {
        throw failure;
      }
    } finally {
      outbox.close();
    }
    if (signal?.aborted === true) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
  }
}
