/**
 * Reads a clerk-relay's whole log from sequence 0 until caught up, with the
 * client's default limits, then asks the state service for a user, and
 * prints one JSON line: how many events, their sequences, ids and raw body
 * sizes, and what `ListUsers` and `GetUser` answered.
 *
 *   npx tsx examples/read_all.ts [--user ID]
 *
 * Environment: `CLERK_RELAY_TARGET` (default 127.0.0.1:50051) and
 * `CLERK_RELAY_TOKEN` (a bearer token, when the relay requires one).
 * Exits 0 when everything answered, 1 when a call failed.
 *
 * @module
 */

import { parseArgs } from "node:util";

import { ConnectError } from "@connectrpc/connect";

import { DEFAULT_TARGET, createRelayClients } from "../src/index.js";

/** The one line printed. */
interface Summary {
  count: number;
  last_sequence: string;
  sequences: string[];
  ids: string[];
  raw_body_bytes: number[];
  users: number;
  snapshot_sequence: string;
  get_user: string;
}

async function readAll(userId: string): Promise<Summary> {
  const token = process.env["CLERK_RELAY_TOKEN"];
  const { events, state } = createRelayClients({
    target: process.env["CLERK_RELAY_TARGET"] || DEFAULT_TARGET,
    ...(token ? { token } : {}),
  });
  const abort = new AbortController();
  const summary: Summary = {
    count: 0,
    last_sequence: "0",
    sequences: [],
    ids: [],
    raw_body_bytes: [],
    users: 0,
    snapshot_sequence: "0",
    get_user: "",
  };
  const stream = events.subscribe(
    { start: { case: "afterSequence", value: 0n } },
    { signal: abort.signal },
  );
  try {
    for await (const message of stream) {
      const response = message.response;
      if (response.case === "events") {
        for (const event of response.value.events) {
          summary.sequences.push(event.sequence.toString());
          summary.ids.push(event.id);
          summary.raw_body_bytes.push(event.rawBody.length);
        }
      } else if (response.case === "caughtUp") {
        break;
      }
    }
  } finally {
    abort.abort();
  }
  summary.count = summary.ids.length;
  summary.last_sequence = summary.sequences.at(-1) ?? "0";
  const listed = await state.listUsers({});
  summary.users = listed.users.length;
  summary.snapshot_sequence = listed.snapshotSequence.toString();
  if (userId !== "") {
    const got = await state.getUser({ id: userId });
    summary.get_user = got.record?.user?.id ?? "";
  }
  return summary;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    allowPositionals: false,
    options: { user: { type: "string", default: "" } },
  });
  try {
    process.stdout.write(`${JSON.stringify(await readAll(values.user))}\n`);
    return 0;
  } catch (error) {
    const failure = ConnectError.from(error);
    process.stderr.write(`read_all: ${failure.code}: ${failure.rawMessage}\n`);
    return 1;
  }
}

process.exitCode = await main();
