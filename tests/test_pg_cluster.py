"""The throwaway PostgreSQL cluster: its own server, stopped and started without the machine's."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
import pytest

from tests.contract.conftest import POSTGRES_URL
from tests.machine_postgres import observe, postmaster_start_time
from tests.pg_cluster import SERVER_ROOT, Cluster, server_bin_dir, unavailable

pytestmark = pytest.mark.postgres


def _install(root: Path, version: str, binaries: tuple[str, ...]) -> Path:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for name in binaries:
        (bin_dir / name).write_text("")
    return bin_dir


def test_server_bin_dir_is_the_newest_version_with_every_server_binary(tmp_path: Path) -> None:
    _install(tmp_path, "9.6", ("initdb", "pg_ctl", "postgres"))
    fifteen = _install(tmp_path, "15", ("initdb", "pg_ctl", "postgres"))
    _install(tmp_path, "16", ("initdb", "postgres"))  # client-only install: no pg_ctl
    assert server_bin_dir(tmp_path) == fifteen


def test_without_server_binaries_no_cluster_can_be_made_and_the_reason_says_so(
    tmp_path: Path,
) -> None:
    _install(tmp_path, "15", ("psql",))
    assert server_bin_dir(tmp_path) is None
    assert unavailable(tmp_path) == (
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) under {tmp_path}/*/bin "
        "to make a throwaway cluster with (install the postgresql package)"
    )


def test_cluster_is_a_server_of_its_own_in_its_directory(throwaway_postgres: Cluster) -> None:
    cluster = throwaway_postgres
    assert cluster.bin_dir == server_bin_dir(SERVER_ROOT)
    assert cluster.port != 5432
    assert cluster.url == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    with psycopg.connect(cluster.url) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("data_directory", "port", "listen_addresses", "unix_socket_directories")
        }
    assert settings == {
        "data_directory": (str(cluster.data),),
        "port": (str(cluster.port),),
        "listen_addresses": ("127.0.0.1",),
        "unix_socket_directories": (str(cluster.directory),),
    }
    owner = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert cluster.data.stat().st_uid == owner


async def test_outage_stops_and_starts_that_cluster_and_leaves_the_machines_alone(
    throwaway_postgres: Cluster,
) -> None:
    cluster = throwaway_postgres
    machine_before = observe(POSTGRES_URL)
    started = postmaster_start_time(cluster.url)
    async with cluster.outage():
        assert not cluster.is_running()
        with pytest.raises(psycopg.OperationalError):
            postmaster_start_time(cluster.url)
        assert observe(POSTGRES_URL) == machine_before
    assert cluster.is_running()
    assert postmaster_start_time(cluster.url) > started
    assert observe(POSTGRES_URL) == machine_before


def test_fresh_database_is_empty_and_dropped_afterwards(throwaway_postgres: Cluster) -> None:
    cluster = throwaway_postgres
    with cluster.fresh_database() as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
            assert tables == (0,)
            conn.execute("CREATE TABLE kept (n int)")
    with psycopg.connect(cluster.url) as conn:
        found = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        assert found.fetchone() == (0,)


def test_remove_stops_the_server_and_deletes_its_directory() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster.create()
    assert cluster.is_running()
    cluster.remove()
    assert not cluster.is_running()
    assert not cluster.directory.exists()
    cluster.remove()  # a second time: nothing left to do
