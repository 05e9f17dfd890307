"""A flame-graph-ready profile of the ingest path of a real `clerk-relay serve`, under load.

py-spy samples the serve process (SQLite) from the load CPU while the load
generator posts webhooks as fast as the gateway takes them. It writes:

- `ingest.speedscope.json`: open it in https://www.speedscope.app (or any
  speedscope viewer), one profile per thread;
- `ingest.folded`: the same samples as collapsed stacks, for `flamegraph.pl`
  or `inferno-flamegraph`;

and `results.md` gets the summary: where the samples fall (by component) and
the top functions by own time. py-spy samples Python frames; time in C code
(orjson, upb, hmac, sqlite3, the grpc core) is charged to the Python frame that
called it. Idle threads are not sampled, so shares are shares of busy CPU.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.cpus import LOAD_CPU
from bench.figures import Section
from bench.loadgen import PhaseSpec
from bench.procs import pin_process, started_relay
from bench.workers import load_generator, run_phase
from tests.processes import ROOT

__all__ = ["COMPONENTS", "ProfileSummary", "run", "summarize"]

# Frames of this checkout are labelled by their path inside it.
_CHECKOUT = f"{ROOT}/"

RATE_HZ = 250

COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("signature (svix, hmac)", ("gateway/signature.py", "svix/", "standardwebhooks/", "hmac.py")),
    ("conversion (JSON → Event)", ("gateway/convert.py",)),
    ("webhook handler (incl. orjson)", ("gateway/webhook.py", "gateway/publisher.py")),
    ("metrics and logs", ("gateway/metrics.py", "prometheus_client/", "logging/")),
    (
        "store (projection, SQLite)",
        (
            "service/storage/sqlite/",
            "service/storage/projection.py",
            "service/storage/facts.py",
            "sqlite3/",
        ),
    ),
    (
        "notify and fan-out",
        ("service/storage/notifier.py", "service/broadcaster.py", "service/subscr"),
    ),
    ("gRPC", ("grpc/", "service/server.py", "service/event_servicer.py")),
    ("HTTP (uvicorn, Starlette)", ("uvicorn/", "starlette/", "httptools/", "gateway/app.py")),
    (
        "threads and executors",
        ("concurrent/futures/", "threading.py", "service/storage/worker_thread.py"),
    ),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/")),
)


@dataclass(frozen=True)
class ProfileSummary:
    """What the samples say.

    Attributes:
        samples: Busy samples, all threads.
        threads: Samples per thread name.
        components: Share of samples per component (leaf-most matching frame).
        own: Top functions by own time: (function, share).
        total: Top functions by inclusive time: (function, share).
    """

    samples: int
    threads: dict[str, int]
    components: list[tuple[str, float]]
    own: list[tuple[str, float]]
    total: list[tuple[str, float]]


def _component(files: list[str]) -> str:
    for file in reversed(files):
        for name, needles in COMPONENTS:
            if any(needle in file for needle in needles):
                return name
    return "other"


def _label(frame: dict[str, Any]) -> str:
    file = str(frame.get("file", ""))
    for marker in ("site-packages/", _CHECKOUT, "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{frame.get('name', '?')} ({file})"


def summarize(speedscope: dict[str, Any], top: int = 15) -> ProfileSummary:
    """Summarizes a py-spy speedscope profile."""
    frames: list[dict[str, Any]] = speedscope["shared"]["frames"]
    labels = [_label(frame) for frame in frames]
    files = [str(frame.get("file", "")) for frame in frames]
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    components: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for profile in speedscope["profiles"]:
        name = str(profile.get("name", "?"))
        thread = name.split('"')[1] if name.count('"') >= 2 else name
        for stack in profile["samples"]:
            if not stack:
                continue
            samples += 1
            threads[thread or "main"] += 1
            own[labels[stack[-1]]] += 1
            for label in {labels[i] for i in stack}:
                total[label] += 1
            components[_component([files[i] for i in stack])] += 1
    share = 1 / samples if samples else 0.0
    return ProfileSummary(
        samples,
        dict(threads.most_common()),
        [(name, n * share) for name, n in components.most_common()],
        [(name, n * share) for name, n in own.most_common(top)],
        [(name, n * share) for name, n in total.most_common(top)],
    )


def folded(speedscope: dict[str, Any]) -> str:
    """The samples as collapsed stacks (`thread;root;…;leaf count`, one a line)."""
    names = [str(frame.get("name", "?")) for frame in speedscope["shared"]["frames"]]
    stacks: collections.Counter[str] = collections.Counter()
    for profile in speedscope["profiles"]:
        thread = str(profile.get("name", "?")).replace(";", ",")
        for stack in profile["samples"]:
            if stack:
                stacks[";".join([thread, *(names[i] for i in stack)])] += 1
    return "".join(f"{stack} {n}\n" for stack, n in sorted(stacks.items()))


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def run(ctx: Context, out: Path) -> Section:
    """Profiles the ingest path; writes the profile files into `out`."""
    section = Section("profile", "Profile: where the ingest path spends its CPU")
    py_spy = _py_spy()
    if py_spy is None:
        section.skipped.append("py-spy is not installed (`make setup` installs the dev extra)")
        return section
    seconds = int(ctx.pick(8, 2))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "ingest.speedscope.json"
    with ExitStack() as stack:
        relay = stack.enter_context(started_relay(ctx.scratch("profile")))
        assert relay.process is not None and relay.http_port is not None
        pid = relay.process.pid
        generator = stack.enter_context(load_generator(ctx))
        sampler: list[subprocess.Popen[bytes]] = []

        def sample(opening: bool) -> None:
            if opening:
                process = subprocess.Popen(
                    [py_spy, "record", "--pid", str(pid), "--rate", str(RATE_HZ)]
                    + ["--duration", str(seconds), "--nonblocking", "--format", "speedscope"]
                    + ["--output", str(target)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                pin_process(process.pid, LOAD_CPU)
                sampler.append(process)
            else:
                _, err = sampler[0].communicate(timeout=seconds + 60)
                if sampler[0].returncode != 0:
                    raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")

        spec = PhaseSpec(
            port=relay.http_port,
            connections=50,
            warmup_s=1.0,
            duration_s=seconds + 1.5,
            count=int(8000 * (seconds + 3)),
        )
        phase = run_phase(generator, spec, pid, on_measuring=sample)
    profile = json.loads(target.read_text())
    (out / "ingest.folded").write_text(folded(profile))
    summary = summarize(profile)
    section.extra["summary"] = {
        "samples": summary.samples,
        "threads": summary.threads,
        "components": summary.components,
        "own": summary.own,
        "total": summary.total,
        "files": [str(target), str(out / "ingest.folded")],
        "webhooks_per_s": phase.rate,
    }
    section.notes.append(
        f"{summary.samples:,} busy samples at {RATE_HZ} Hz over {seconds} s while ingesting "
        f"{phase.rate:,.0f} webhooks/s (under the sampler); files: `{target.name}`, "
        f"`ingest.folded` in `{_relative(out)}`"
    )
    return section


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
