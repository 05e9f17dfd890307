"""What every benchmark family gets: the mode (quick or full), the scratch directory, PostgreSQL."""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

__all__ = ["POSTGRES_URL", "Context", "postgres_reason"]

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_reason(url: str = POSTGRES_URL) -> str | None:
    """None when the PostgreSQL server answers, else why it does not."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]


@dataclass
class Context:
    """The run's settings and shared scratch space.

    Attributes:
        quick: A smoke run: tiny sizes, one run each; its figures mean nothing.
        runs: How many times each figure is measured (median, min, max).
        workdir: Scratch space (databases, logs), removed after the run.
        postgres_url: The PostgreSQL server, or None when it does not answer.
        postgres_missing: Why PostgreSQL figures are skipped, when they are.
    """

    quick: bool
    runs: int
    workdir: Path
    postgres_url: str | None = POSTGRES_URL
    postgres_missing: str = ""
    started: float = field(default_factory=time.monotonic)
    leftover_schemas: list[str] = field(default_factory=list)

    def pick(self, full: float, quick: float) -> float:
        """The full-run size, or the quick one."""
        return quick if self.quick else full

    def log(self, message: str) -> None:
        """Progress, on standard error, with the time since the start."""
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr)

    def scratch(self, name: str) -> Path:
        """A new directory in the scratch space."""
        path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path

    @contextmanager
    def postgres_schema(self) -> Iterator[str]:
        """A fresh schema in the PostgreSQL database; yields a URL that uses it; drops it after."""
        assert self.postgres_url is not None
        schema = f"relay_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            separator = "&" if "?" in self.postgres_url else "?"
            yield f"{self.postgres_url}{separator}options=-csearch_path%3D{schema}"
        finally:
            try:
                with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            except psycopg.Error as error:
                self.log(f"could not drop schema {schema} (will retry at the end): {error}")
                self.leftover_schemas.append(schema)

    def wait_for_postgres(self, timeout_s: float) -> bool:
        """Waits until the PostgreSQL server answers; False if it did not in time."""
        if self.postgres_url is None:
            return False
        deadline = time.monotonic() + timeout_s
        while postgres_reason(self.postgres_url) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(1)
        return True

    def drop_leftover_schemas(self) -> None:
        """Drops the schemas that could not be dropped when PostgreSQL was away."""
        if self.postgres_url is None or not self.leftover_schemas:
            return
        with contextlib.suppress(psycopg.Error):
            with psycopg.connect(self.postgres_url, autocommit=True, connect_timeout=5) as conn:
                for schema in self.leftover_schemas:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            self.leftover_schemas.clear()
