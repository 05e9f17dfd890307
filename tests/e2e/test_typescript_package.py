"""The TypeScript client as a package: `npm run build` emits `dist/`, `npm pack` ships only that.

Everything is built into a temporary directory (`--outDir`), so the working
tree stays clean; a consumer outside the tree then imports the package by
name, through its `exports`, both at run time (node) and at compile time (tsc).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

from tests.e2e.typescript import TS_DIR
from tests.e2e.typescript import node_modules as node_modules  # autouse fixture

BUILD_TIMEOUT_S = 120.0

CONSUMER_JS = """
import { FileCheckpoint, subscribeEvents } from "@clerk-relay/client";
import { createRelayClients, EventSchema } from "@clerk-relay/client";
const path = process.argv[2];
const checkpoint = new FileCheckpoint(path);
const before = await checkpoint.load();
await checkpoint.save(41n);
console.log(JSON.stringify({
  before: before === undefined ? null : before.toString(),
  after: (await checkpoint.load()).toString(),
  subscribeEvents: typeof subscribeEvents,
  createRelayClients: typeof createRelayClients,
  schema: EventSchema.typeName,
}));
"""

CONSUMER_TS = """
import type { CheckpointStore, Event } from "@clerk-relay/client";
import { MemoryCheckpoint, createRelayClients, subscribeEvents } from "@clerk-relay/client";

const store: CheckpointStore = new MemoryCheckpoint(7n);
export async function firstSequence(): Promise<bigint | undefined> {
  const { events } = createRelayClients({ target: "127.0.0.1:1" });
  const filter = { eventTypes: ["user.*"] };
  for await (const event of subscribeEvents(events, filter, { checkpoint: store })) {
    const typed: Event = event;
    return typed.sequence;
  }
  return undefined;
}
"""


async def run(*command: str, cwd: Path) -> str:
    """Runs `command` in `cwd`; returns its stdout, failing the test on a non-zero exit."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), BUILD_TIMEOUT_S)
    assert process.returncode == 0, f"{command}: {stdout.decode()}{stderr.decode()}"
    return stdout.decode()


async def test_build_and_pack_ship_only_dist(tmp_path: Path) -> None:
    package = tmp_path / "package"
    out_dir = str(package / "dist")
    await run("npm", "run", "--silent", "build", "--", "--outDir", out_dir, cwd=TS_DIR)
    assert (package / "dist" / "index.js").is_file()
    assert (package / "dist" / "index.d.ts").is_file()
    assert (package / "dist" / "subscribe.d.ts").is_file()
    assert not (TS_DIR / "dist").exists()  # the tree stays clean

    for name in ("package.json", "README.md"):
        shutil.copy(TS_DIR / name, package / name)
    packed = json.loads(
        await run("npm", "pack", "--dry-run", "--json", "--ignore-scripts", cwd=package)
    )
    files = sorted(entry["path"] for entry in packed[0]["files"])
    assert packed[0]["name"] == "@clerk-relay/client"
    assert [f for f in files if not f.startswith("dist/")] == ["README.md", "package.json"]
    assert "dist/index.js" in files
    assert "dist/gen/clerkrelay/v1/event_pb.d.ts" in files
    assert not [f for f in files if f.endswith(".ts") and not f.endswith(".d.ts")]  # no sources
    assert sorted(f for f in files if f.endswith(".js")) == sorted(
        f.removesuffix(".d.ts") + ".js" for f in files if f.endswith(".d.ts")
    )

    # A consumer elsewhere imports the package by name (its dependencies come
    # from the client's node_modules, as an install would provide them).
    (package / "node_modules").symlink_to(TS_DIR / "node_modules")
    consumer = tmp_path / "consumer"
    (consumer / "node_modules" / "@clerk-relay").mkdir(parents=True)
    (consumer / "node_modules" / "@clerk-relay" / "client").symlink_to(package)
    (consumer / "package.json").write_text('{"type": "module", "private": true}\n')
    (consumer / "main.js").write_text(CONSUMER_JS)
    position = tmp_path / "position"
    position.write_text("40\n")
    printed = json.loads(await run("node", "main.js", str(position), cwd=consumer))
    assert printed == {
        "before": "40",
        "after": "41",
        "subscribeEvents": "function",
        "createRelayClients": "function",
        "schema": "clerkrelay.v1.Event",
    }
    assert position.read_text() == "41\n"

    (consumer / "main.ts").write_text(CONSUMER_TS)
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "strict": True,
            "noEmit": True,
            "types": ["node"],
            "typeRoots": [str(TS_DIR / "node_modules" / "@types")],
        },
        "files": ["main.ts"],
    }
    (consumer / "tsconfig.json").write_text(json.dumps(config))
    await run(str(TS_DIR / "node_modules" / ".bin" / "tsc"), "-p", ".", cwd=consumer)
