"""`clerk-relay reconcile` against a live `clerk-relay serve` and the Backend API double."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from rich.progress import Progress

from clerkrelay import RelayClient
from clerkrelay.cli import reconcile as reconcile_command
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage.sqlite import SqliteStore
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess, free_port, grpc_service, relay_env, running, serve
from tests.reconcile.backend_double import SECRET_KEY, BackendDouble
from tests.reconcile.relay_helpers import reconcile_settings


def _reconcile(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Runs `reconcile`, again while the start-up pass still runs; (exit code, stdout, stderr)."""
    deadline = time.monotonic() + 30
    while True:
        done = clerk_relay("reconcile", *args, env=env)
        if "already running" not in done.stderr or time.monotonic() > deadline:
            return done.returncode, done.stdout, done.stderr
        time.sleep(0.2)


def _wait_listed(env: dict[str, str], **counts: int) -> None:
    """Waits until `clerk-relay list <kinds>` prints `counts[kinds]` records for each."""
    deadline = time.monotonic() + 30
    for kinds, count in counts.items():
        while len(clerk_relay("list", kinds, env=env).stdout.splitlines()) != count:
            assert time.monotonic() < deadline, f"{kinds} never reached {count}"
            time.sleep(0.1)


def test_reconcile_end_to_end(tmp_path: Path) -> None:
    double = BackendDouble()
    double.add("user", 3)
    orgs = double.add("organization", 2)
    with double.serve() as api_url:
        relay = serve(tmp_path)
        relay.env.update(
            CLERK_SECRET_KEY=SECRET_KEY,
            CLERK_API_URL=api_url,
            CLERK_RELAY_RECONCILE_BUDGET_SHARE="1",
            CLERK_RELAY_RECONCILE_INTERVAL="0",
        )
        with running(relay):
            env = relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target)
            _wait_listed(env, users=3, organizations=2)  # the start-up backfill
            double.add("user", 2)
            double.remove("organization", orgs[0]["id"])

            code, out, err = _reconcile("--kinds", "users,organizations", env=env)

            # The start-up backfill had the first 3 users and both organizations.
            lines = out.splitlines()
            assert lines[0].startswith("users: 5 scanned, 2 created, 0 updated, 0 deleted, 3 ")
            assert lines[1].startswith("organizations: 1 scanned of 1, 0 created, 0 updated, 0 ")
            assert lines[1].endswith("1 not deleted"), lines[1]
            assert code == 1 and len(err.splitlines()) == 1, err
            assert "over the 10% limit" in err and "--allow-mass-delete" in err

            code, out, err = _reconcile("--kinds", "organizations", "--allow-mass-delete", env=env)
            assert (code, err) == (0, ""), err
            assert "1 deleted" in out.splitlines()[0]
            assert out.splitlines()[-1].endswith("completed: 1 events appended")

            listed = clerk_relay("list", "organizations", env=env)
            assert len(listed.stdout.splitlines()) == 1

            code, _, err = _reconcile("--kinds", "sessions", env=env)
            assert code == 2 and "cannot be reconciled" in err and "client_id" in err

            metrics = httpx.get(f"{relay.ops_url}/metrics").text  # serve's, the gateway's too
            assert (
                'clerk_relay_reconcile_entities_total{kind="user",outcome="created"} 5.0' in metrics
            )
            assert 'clerk_relay_reconcile_passes_total{outcome="completed",trigger="startup"}' in (
                metrics
            )
            assert "clerk_relay_webhooks_received_total" in metrics


def test_reconcile_without_a_key_on_the_relay(relay: RelayProcess) -> None:
    env = relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target)
    done = clerk_relay("reconcile", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("clerk-relay: the relay refused: reconciliation is off")
    assert "CLERK_SECRET_KEY" in done.stderr and len(done.stderr.splitlines()) == 1


def test_an_unknown_kind_is_a_usage_error() -> None:
    done = clerk_relay("reconcile", "--kinds", "users,widgets")
    assert done.returncode == 2
    assert done.stderr.startswith("clerk-relay: --kinds: unknown kind 'widgets' (use users, ")


def test_a_bad_key_fails_with_its_prefix_only(tmp_path: Path) -> None:
    double = BackendDouble()
    wrong = "sk_test_" + "WrongKeyNotTheDoubles0123456789abcdef"
    with double.serve() as api_url:
        relay = serve(tmp_path)
        relay.env.update(
            CLERK_SECRET_KEY=wrong,
            CLERK_API_URL=api_url,
            CLERK_RELAY_RECONCILE_BUDGET_SHARE="1",
        )
        with running(relay):
            env = relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target)
            code, _, err = _reconcile("--kinds", "users", env=env)
        log = relay.log.read_text()
    assert code == 1 and len(err.splitlines()) == 1
    assert "failed: Clerk's Backend API rejected the secret key sk_test_Wron…" in err
    assert wrong not in err and wrong not in log
    assert "trigger=startup outcome=failed" in log


async def test_a_terminal_gets_a_progress_bar_and_stdout_the_counts(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = io.StringIO()
    bars: list[Progress] = []

    def bar(out: object) -> Progress:
        bars.append(Progress(console=Console(file=screen, force_terminal=True, width=100)))
        return bars[-1]

    monkeypatch.setattr(reconcile_command, "progress_bar", bar)
    double = BackendDouble()
    double.add("user", 600)
    with double.serve() as api_url:
        settings = ServiceSettings(grpc_addr="127.0.0.1:0", reconcile=reconcile_settings(api_url))
        server = RelayServer(settings, store)
        server.reconciliation.start_schedule = lambda: None  # type: ignore[union-attr,method-assign]
        port = await server.start()
        try:
            await reconcile_command._reconcile(RelayClient(f"127.0.0.1:{port}"), ["user"], False)
        finally:
            await server.stop()

    assert len(bars) == 1 and "user" in screen.getvalue()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "users: 600 scanned, 600 created, 0 updated, 0 deleted, 0 unchanged, 0 kept"
    assert out[1].endswith("completed: 600 events appended")


def test_a_grpc_process_reconciles_and_serves_its_metrics(tmp_path: Path) -> None:
    double = BackendDouble()
    double.add("user", 4)
    metrics_port = free_port()
    with double.serve() as api_url:
        relay = grpc_service(
            tmp_path,
            f"sqlite:///{tmp_path / 'relay.db'}",
            "--metrics-addr",
            f"127.0.0.1:{metrics_port}",  # the ops listener's former name, still accepted
        )
        relay.ops_port = metrics_port
        relay.env.update(
            CLERK_SECRET_KEY=SECRET_KEY,
            CLERK_API_URL=api_url,
            CLERK_RELAY_RECONCILE_BUDGET_SHARE="1",
        )
        with running(relay):
            env = relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target)
            _wait_listed(env, users=4)  # the start-up backfill
            code, out, err = _reconcile("--kinds", "users", env=env)
            assert (code, err) == (0, ""), err
            assert out.startswith("users: 4 scanned, 0 created, 0 updated, 0 deleted, 4 unchanged")
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert (
            'clerk_relay_reconcile_passes_total{outcome="completed",trigger="rpc"} 1.0' in metrics
        )
        assert 'clerk_relay_reconcile_entities_total{kind="user",outcome="created"} 4.0' in metrics
        assert relay.stop() == 0
