/**
 * Tails a clerk-relay: subscribes to `user.*` and prints each event as one
 * JSON line on stdout (proto3 JSON with Clerk's snake_case field names).
 *
 *   npm run tail -- [--from-beginning | --after N] [--count N] [--types PATTERN]... [--verbose]
 *
 * `--types` may be repeated; it defaults to `user.*`.
 *
 * Environment: `CLERK_RELAY_TARGET` (default 127.0.0.1:50051, or an
 * `https://` URL for TLS) and `CLERK_RELAY_TOKEN` (a bearer token, when the
 * relay requires one). Without `--after`/`--from-beginning` the stream starts
 * live: only events stored from now on.
 *
 * Control messages go to stderr: `caught_up` and `fell_behind` always,
 * checkpoints and heartbeats with `--verbose`. Exits 0 after `--count`
 * events, 1 when the stream fails, 2 on a usage error.
 *
 * @module
 */

import { parseArgs } from "node:util";

import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import {
  DEFAULT_TARGET,
  type Event,
  EventSchema,
  type SubscribeRequest,
  createRelayClients,
} from "../src/index.js";

/** What the command line asked for. */
interface TailOptions {
  eventTypes: string[];
  start: SubscribeRequest["start"];
  count: number | undefined;
  verbose: boolean;
}

class UsageError extends Error {}

const USAGE =
  "usage: tail [--from-beginning | --after N] [--count N] [--types PATTERN]... [--verbose]";

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
        "count": { type: "string" },
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
  let start: SubscribeRequest["start"] = { case: undefined };
  if (values["from-beginning"]) {
    start = { case: "afterSequence", value: 0n };
  } else if (values.after !== undefined) {
    start = { case: "afterSequence", value: nonNegativeInteger("--after", values.after) };
  }
  let count: number | undefined;
  if (values.count !== undefined) {
    count = Number(nonNegativeInteger("--count", values.count));
    if (count === 0) {
      throw new UsageError("--count must be at least 1");
    }
  }
  return {
    eventTypes: values.types ?? ["user.*"],
    start,
    count,
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

async function tail(options: TailOptions, signal: AbortSignal): Promise<void> {
  const token = process.env["CLERK_RELAY_TOKEN"];
  const { events } = createRelayClients({
    target: process.env["CLERK_RELAY_TARGET"] || DEFAULT_TARGET,
    ...(token ? { token } : {}),
  });
  const stream = events.subscribe(
    { eventTypes: options.eventTypes, start: options.start },
    { signal },
  );
  let printed = 0;
  for await (const message of stream) {
    const response = message.response;
    switch (response.case) {
      case "events":
        for (const event of response.value.events) {
          process.stdout.write(`${eventLine(event)}\n`);
          printed += 1;
          if (options.count !== undefined && printed >= options.count) {
            return;
          }
        }
        break;
      case "caughtUp":
        note(`caught up at sequence ${response.value.sequence}`);
        break;
      case "fellBehind":
        note(`fell behind after sequence ${response.value.sequence}; reading the log`);
        break;
      case "checkpoint":
        if (options.verbose) {
          note(`checkpoint at sequence ${response.value.sequence}`);
        }
        break;
      case "heartbeat":
        if (options.verbose) {
          const time = response.value.time;
          const at = time === undefined ? "?" : timestampDate(time).toISOString();
          note(`heartbeat at ${at}, head sequence ${response.value.headSequence}`);
        }
        break;
      case undefined:
        break;
    }
  }
  note("the server ended the stream");
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
    const failure = ConnectError.from(error);
    if (failure.code === Code.Canceled && abort.signal.aborted) {
      return 0;
    }
    note(`${Code[failure.code]}: ${failure.rawMessage}`);
    return 1;
  } finally {
    abort.abort();
  }
}

process.exitCode = await main();
