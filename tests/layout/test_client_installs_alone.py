"""`pip install ./clients/python`, alone in a fresh virtualenv, gives a working `clerk-relay`.

Its dependencies are installed by pip from the package's own metadata (pinned
to `constraints.txt`, as `make setup` pins them), so a dependency the client's
command line needs but its `pyproject.toml` forgets fails here. The server
(`gateway`, `service`, `relay`) is not installed, so only the client's
commands are offered.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.processes import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _run(*args: str | Path, cwd: Path, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_the_client_installs_and_runs_alone(tmp_path: Path) -> None:
    # A copy: building in place would leave build/ and *.egg-info in the repository.
    source = tmp_path / "client"
    shutil.copytree(
        ROOT / "clients" / "python",
        source,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
    )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, symlinks=sys.platform != "win32").create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "-c",
        ROOT / "constraints.txt",
        source,
        cwd=tmp_path,
        timeout_s=540,
    )
    assert installed.returncode == 0, installed.stderr

    helped = _run(env_dir / "bin" / "clerk-relay", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    listed = re.findall(r"^    (\S+)", helped.stdout, re.MULTILINE)
    assert sorted(listed) == [
        "consumers",
        "event",
        "get",
        "history",
        "list",
        "reconcile",
        "tail",
        "trigger",
    ]

    tail = _run(env_dir / "bin" / "clerk-relay", "tail", "--help", cwd=tmp_path)
    assert tail.returncode == 0, tail.stderr
    assert "--target" in tail.stdout

    triggered = _run(env_dir / "bin" / "clerk-relay", "trigger", "--list", cwd=tmp_path)
    assert triggered.returncode == 0, triggered.stderr
    assert "user.created" in triggered.stdout.split()

    server = _run(python, "-c", "import gateway", cwd=tmp_path)
    assert server.returncode != 0  # the server really is absent
