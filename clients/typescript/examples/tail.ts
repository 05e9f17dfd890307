/**
 * Tails a clerk-relay: subscribes to `user.*` and prints each event as one
 * JSON line on stdout (proto3 JSON with Clerk's snake_case field names).
 *
 *   npm run tail -- [--from-beginning | --after N] [--checkpoint FILE] [--count N]
 *                   [--until-caught-up] [--idle-timeout SECONDS] [--types PATTERN]... [--verbose]
 *
 * `--types` may be repeated; it defaults to `user.*`.
 *
 * The subscription resumes on its own ({@link subscribeEvents}): when the
 * relay restarts or the connection drops, it reconnects after the last
 * printed event, so no event is printed twice or skipped. `--checkpoint FILE`
 * keeps that position in FILE (the Python client's format): a later run with
 * the same FILE resumes after the last event printed by the previous one.
 * `--idle-timeout` (default 30) is how long a silent stream is trusted: the
 * relay sends a heartbeat every 5 s on an idle stream, so a longer silence
 * means a stuck connection, and the subscription reconnects.
 *
 * Environment: `CLERK_RELAY_TARGET` (default 127.0.0.1:50051, or an
 * `https://` URL for TLS) and `CLERK_RELAY_TOKEN` (a bearer token, when the
 * relay requires one). Without `--after`/`--from-beginning` or a position in
 * the checkpoint file, the stream starts live: only events stored from now on.
 *
 * Control messages go to stderr: `caught_up`, `fell_behind` and the first
 * reconnection of an outage always, checkpoints, heartbeats and further
 * reconnections with `--verbose`. Exits 0 after `--count` events, once
 * caught up with `--until-caught-up`, or on SIGINT/SIGTERM; 1 when the stream
 * fails (a status retrying cannot fix, or a corrupt checkpoint file); 2 on a
 * usage error.
 *
 * @module
 */

import { parseArgs } from "node:util";

import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import {
  type ControlMessage,
  DEFAULT_TARGET,
  type Event,
  EventSchema,
  FileCheckpoint,
  type Reconnect,
  createRelayClients,
  subscribeEvents,
} from "../src/index.js";

/** What the command line asked for. */
interface TailOptions {
  eventTypes: string[];
  afterSequence: bigint | undefined;
  checkpoint: string | undefined;
  count: number | undefined;
  untilCaughtUp: boolean;
  idleTimeoutMs: number;
  verbose: boolean;
}

class UsageError extends Error {}

const USAGE =
  "usage: tail [--from-beginning | --after N] [--checkpoint FILE] [--count N] " +
  "[--until-caught-up] [--idle-timeout SECONDS] [--types PATTERN]... [--verbose]";

function parseCommandLine(argv: string[]): TailOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        "after": { type: "string" },
        "from-beginning": { type: "boolean", default: false },
        "checkpoint": { type: "string" },
        "count": { type: "string" },
        "until-caught-up": { type: "boolean", default: false },
        "idle-timeout": { type: "string", default: "30" },
        "types": { type: "string", multiple: true },
        "verbose": { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.after !== undefined && values["from-beginning"]) {
    throw new UsageError("--after and --from-beginning exclude each other");
  }
  let afterSequence: bigint | undefined;
  if (values["from-beginning"]) {
    afterSequence = 0n;
  } else if (values.after !== undefined) {
    afterSequence = nonNegativeInteger("--after", values.after);
  }
  if (values.checkpoint === "") {
    throw new UsageError("--checkpoint needs a file name");
  }
  let count: number | undefined;
  if (values.count !== undefined) {
    count = Number(nonNegativeInteger("--count", values.count));
    if (count === 0) {
      throw new UsageError("--count must be at least 1");
    }
  }
  const idle = values["idle-timeout"];
  if (!/^\d+(\.\d+)?$/.test(idle) || Number(idle) === 0) {
    throw new UsageError(
      `--idle-timeout needs a positive number of seconds, got ${JSON.stringify(idle)}`,
    );
  }
  return {
    eventTypes: values.types ?? ["user.*"],
    afterSequence,
    checkpoint: values.checkpoint,
    count,
    untilCaughtUp: values["until-caught-up"],
    idleTimeoutMs: Number(idle) * 1000,
    verbose: values.verbose,
  };
}

function nonNegativeInteger(flag: string, text: string): bigint {
  if (!/^\d+$/.test(text)) {
    throw new UsageError(`${flag} needs a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return BigInt(text);
}

/**
 * One output line: the event as proto3 JSON, without `raw_body` when the
 * typed payload already carries it (an event of a type this contract does not
 * know keeps `raw_body`, base64 as proto3 JSON has it, so nothing is lost).
 */
function eventLine(event: Event): string {
  const json = toJson(EventSchema, event, { useProtoFieldName: true });
  if (event.payload.case !== undefined && typeof json === "object" && json !== null) {
    delete (json as Record<string, unknown>)["raw_body"];
  }
  return JSON.stringify(json);
}

function note(line: string): void {
  process.stderr.write(`tail: ${line}\n`);
}

function noteControl(message: ControlMessage, verbose: boolean): void {
  switch (message.case) {
    case "caughtUp":
      note(`caught up at sequence ${message.value.sequence}`);
      break;
    case "fellBehind":
      note(`fell behind after sequence ${message.value.sequence}; reading the log`);
      break;
    case "checkpoint":
      if (verbose) {
        note(`checkpoint at sequence ${message.value.sequence}`);
      }
      break;
    case "heartbeat":
      if (verbose) {
        const time = message.value.time;
        const at = time === undefined ? "?" : timestampDate(time).toISOString();
        note(`heartbeat at ${at}, head sequence ${message.value.headSequence}`);
      }
      break;
  }
}

function noteReconnect(reconnect: Reconnect, verbose: boolean): void {
  if (reconnect.failures === 1 || verbose) {
    const after = reconnect.position === undefined ? "live" : `after ${reconnect.position}`;
    const delay = (reconnect.delayMs / 1000).toFixed(2);
    note(`interrupted (${reconnect.reason}); resuming ${after} in ${delay} s`);
  }
}

async function tail(options: TailOptions, signal: AbortSignal): Promise<void> {
  const token = process.env["CLERK_RELAY_TOKEN"];
  const { events } = createRelayClients({
    target: process.env["CLERK_RELAY_TARGET"] || DEFAULT_TARGET,
    ...(token ? { token } : {}),
  });
  const subscription = subscribeEvents(
    events,
    { eventTypes: options.eventTypes },
    {
      afterSequence: options.afterSequence,
      checkpoint:
        options.checkpoint === undefined ? undefined : new FileCheckpoint(options.checkpoint),
      signal,
      idleTimeoutMs: options.idleTimeoutMs,
      untilCaughtUp: options.untilCaughtUp,
      onControl: (message) => noteControl(message, options.verbose),
      onReconnect: (reconnect) => noteReconnect(reconnect, options.verbose),
    },
  );
  let printed = 0;
  for await (const event of subscription) {
    process.stdout.write(`${eventLine(event)}\n`);
    subscription.acknowledge(); // printed is handled: a checkpoint may now move past it
    printed += 1;
    if (options.count !== undefined && printed >= options.count) {
      break; // saves the checkpoint
    }
  }
}

async function main(): Promise<number> {
  let options: TailOptions;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`tail: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await tail(options, abort.signal);
    return 0;
  } catch (error) {
    if (!(error instanceof ConnectError)) {
      note(error instanceof Error ? error.message : String(error)); // e.g. a corrupt checkpoint
      return 1;
    }
    note(`${Code[error.code]}: ${error.rawMessage}`);
    return 1;
  } finally {
    abort.abort();
  }
}

process.exitCode = await main();
