/**
 * A member of a consumer group: joins it, prints each delivery as one JSON
 * line on stdout (`{"sequence", "type", "attempt"}`) and acks it.
 *
 *   npx tsx examples/consume.ts --group NAME [--types PATTERN]... [--from-beginning]
 *       [--count N] [--nack-first]
 *
 * `--types` may be repeated; the group is created on first use with these
 * settings (types, start), and must have them when it exists. With
 * `--nack-first`, a first delivery is nacked instead of acked, so it comes
 * back as attempt 2. Exits 0 after `--count` deliveries, 1 when the stream
 * fails, 2 on a usage error.
 *
 * Environment: `CLERK_RELAY_TARGET` (default 127.0.0.1:50051) and
 * `CLERK_RELAY_TOKEN` (a subscriber token, when the relay requires one).
 *
 * @module
 */

import { parseArgs } from "node:util";

import { Code, ConnectError } from "@connectrpc/connect";

import { DEFAULT_TARGET, consume, createRelayClients } from "../src/index.js";

function usage(message: string): never {
  process.stderr.write(
    `consume: ${message}\nusage: consume --group NAME [--types PATTERN]... ` +
      "[--from-beginning] [--count N] [--nack-first]\n",
  );
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        "group": { type: "string" },
        "types": { type: "string", multiple: true },
        "from-beginning": { type: "boolean", default: false },
        "count": { type: "string" },
        "nack-first": { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const group = values.group ?? usage("--group is required");
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count >= 1)) {
    usage("--count must be a whole number of at least 1");
  }
  const token = process.env["CLERK_RELAY_TOKEN"];
  const { consumers } = createRelayClients({
    target: process.env["CLERK_RELAY_TARGET"] || DEFAULT_TARGET,
    ...(token ? { token } : {}),
  });
  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort());
  process.once("SIGTERM", () => abort.abort());
  const settings = {
    eventTypes: values.types ?? [],
    ...(values["from-beginning"] ? { start: { case: "afterSequence" as const, value: 0n } } : {}),
  };
  let handled = 0;
  try {
    for await (const msg of consume(consumers, group, { settings, signal: abort.signal })) {
      const { sequence, type } = msg.event;
      const line = { sequence: Number(sequence), type, attempt: msg.attempt };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      if (values["nack-first"] && msg.attempt === 1) {
        msg.nack({ reason: "first attempts are nacked (--nack-first)" });
      } else {
        msg.ack();
      }
      handled += 1;
      if (count !== undefined && handled >= count) {
        await new Promise((resolve) => setTimeout(resolve, 200)); // let the last ack go out
        return 0;
      }
    }
    return 0;
  } catch (error) {
    const failure = ConnectError.from(error);
    if (failure.code === Code.Canceled && abort.signal.aborted) {
      return 0;
    }
    process.stderr.write(`consume: ${Code[failure.code]}: ${failure.rawMessage}\n`);
    return 1;
  } finally {
    abort.abort();
  }
}

process.exitCode = await main();
