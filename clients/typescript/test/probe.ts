/**
 * Drives {@link subscribeEvents} for the Python test suite
 * (`tests/e2e/test_typescript_subscribe.py`): runs one scenario given as JSON
 * on the command line and reports what happened as JSON lines on stdout.
 *
 *   tsx test/probe.ts '{"target": "127.0.0.1:50051", "stopAfter": 2, ...}'
 *
 * Lines: `{"event": "7"}` per event, `{"control": "caughtUp", "sequence": "7"}`
 * per control message but heartbeats, `{"reconnect": {...}}` before each wait,
 * then one last line: `{"end": "done"}`, or `{"error": {...}}` with what the
 * iteration threw (`connect: true` and the status for a `ConnectError`).
 *
 * @module
 */

import { Code, ConnectError } from "@connectrpc/connect";

import {
  type BackoffOptions,
  type CheckpointStore,
  FileCheckpoint,
  createRelayClients,
  subscribeEvents,
} from "../src/index.js";

/** One scenario. */
interface Scenario {
  target: string;
  eventTypes?: string[];
  afterSequence?: string;
  checkpoint?: string;
  /** Leave the loop after this many events (`break`, without acknowledging). */
  stopAfter?: number;
  /** Acknowledge each event before leaving the loop. */
  acknowledge?: boolean;
  backoff?: BackoffOptions;
  idleTimeoutMs?: number;
  untilCaughtUp?: boolean;
}

function report(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function probe(scenario: Scenario): Promise<void> {
  const { events } = createRelayClients({ target: scenario.target });
  const checkpoint: CheckpointStore | undefined =
    scenario.checkpoint === undefined ? undefined : new FileCheckpoint(scenario.checkpoint);
  const subscription = subscribeEvents(
    events,
    { eventTypes: scenario.eventTypes ?? [] },
    {
      afterSequence:
        scenario.afterSequence === undefined ? undefined : BigInt(scenario.afterSequence),
      checkpoint,
      backoff: scenario.backoff,
      idleTimeoutMs: scenario.idleTimeoutMs,
      untilCaughtUp: scenario.untilCaughtUp,
      onControl: (message) => {
        if (message.case !== "heartbeat") {
          report({ control: message.case, sequence: message.value.sequence.toString() });
        }
      },
      onReconnect: ({ reason, failures, position }) =>
        report({ reconnect: { reason, failures, position: position?.toString() ?? null } }),
    },
  );
  let seen = 0;
  for await (const event of subscription) {
    report({ event: event.sequence.toString() });
    seen += 1;
    if (scenario.acknowledge === true) {
      subscription.acknowledge();
    }
    if (scenario.stopAfter !== undefined && seen >= scenario.stopAfter) {
      break;
    }
  }
}

try {
  await probe(JSON.parse(process.argv[2] ?? "{}") as Scenario);
  report({ end: "done" });
} catch (error) {
  if (error instanceof ConnectError) {
    report({ error: { connect: true, code: Code[error.code], message: error.rawMessage } });
  } else {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    report({ error: { connect: false, name, message } });
  }
}
