"""Real `zwc serve` processes, for the tests that need a server (CLI, logs, faults, stateful fuzzing)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

ZWC = str(Path(sys.executable).with_name("zwc"))


def run_checked(command: list[str], env: Mapping[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command to its end; answers its standard output, or fails the test with its output's tail."""
    result = subprocess.run(command, env=None if env is None else dict(env), capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(env: Mapping[str, str], *args: str, stdout: Path, stderr: Path | None = None,
                ready_seconds: float = 60) -> tuple[subprocess.Popen[bytes], str]:
    """`zwc serve` on a free port with ``args``, its output in ``stdout`` (and ``stderr``, else the same
    file); answers the process and its base URL once `/readyz` answers 200. The caller stops it."""
    port = free_port()
    with stdout.open("w") as out:
        if stderr is None:
            process = subprocess.Popen([ZWC, "serve", "--port", str(port), *args], env=dict(env), stdout=out,
                                       stderr=subprocess.STDOUT)
        else:
            with stderr.open("w") as err:
                process = subprocess.Popen([ZWC, "serve", "--port", str(port), *args], env=dict(env), stdout=out,
                                           stderr=err)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=20)
    pytest.fail(f"zwc serve did not become ready:\n{(stderr or stdout).read_text()[-4000:]}")
