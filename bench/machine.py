"""The machine a benchmark ran on: CPU, cores, memory, OS, Python and the key packages."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path

import psycopg
from google.protobuf.internal import api_implementation

__all__ = ["PACKAGES", "HostLoad", "describe"]

PACKAGES = (
    "grpcio",
    "protobuf",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "svix",
    "orjson",
    "psycopg",
    "py-spy",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _postgres_version(url: str | None) -> str:
    if url is None:
        return "not available"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info = conn.info
            where = f"{info.host}:{info.port}/{info.dbname}"
            return f"{row[0] if row else 'unknown'} ({where})"
    except psycopg.Error:
        return "not available"


def _cpu_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return total - idle - steal, steal, total


class HostLoad:
    """How busy the whole machine was during the run (other sessions' work included).

    The benchmark's own processes keep at most both CPUs busy; a load average
    well above 2, or a lot of steal, means something else competed for them.
    """

    def __init__(self) -> None:
        self._start = _cpu_ticks()
        self._load_start = os.getloadavg()[0]

    def describe(self) -> dict[str, float]:
        """Load averages at the start and the end, and busy and stolen CPU shares meanwhile."""
        busy, steal, total = (b - a for a, b in zip(self._start, _cpu_ticks(), strict=True))
        return {
            "load_average_start": round(self._load_start, 2),
            "load_average_end": round(os.getloadavg()[0], 2),
            "cpu_busy_share": round(busy / total, 3) if total else 0.0,
            "cpu_steal_share": round(steal / total, 3) if total else 0.0,
        }


def describe(postgres_url: str | None) -> dict[str, object]:
    """The machine, as `results.json` and `results.md` show it."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "os": f"{_os_name()}, Linux {platform.release()}",
        "python": sys.version.split()[0],
        "protobuf_backend": api_implementation.Type(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(postgres_url),
        "packages": {name: _version(name) for name in PACKAGES},
    }
