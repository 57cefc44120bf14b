"""Stateful fuzzing: schemathesis' own engine follows links between operations on a real server.

Schemathesis infers the links from the document (an id one operation answers and another takes in its
path: create a cell, then evaluate, certify, inspect or revoke that cell). Its engine keeps the state
the scenarios build up, which Hypothesis' in-process state machines cannot do against a database that
remembers earlier scenarios. The server is `zwc serve` on the test's database; the checks are those
of test_fuzz.py plus the two stateful ones (a created resource can be read; a deleted one is gone).

Few links are followed yet (a handful of ~190): a link starts only when its producer succeeded, and
random bodies rarely make a valid cell or submission. Request examples in the document (issue 9) give
the engine valid bodies to start from.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from app.core.actor import SCOPES
from tests.servers import ZWC, start_serve

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCENARIOS = 150
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "use_after_free,ensure_resource_availability,problem_json")


def test_stateful_scenarios_against_a_real_server(database_url: str, backend: str, tmp_path: Path) -> None:
    env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_RATE_LIMIT": "", "ZWC_LOG_LEVEL": "WARNING", "SCHEMATHESIS_HOOKS": "tests.fuzz_checks",
           "PYTHONPATH": str(ROOT)}
    scopes = [arg for scope in SCOPES for arg in ("--scope", scope)]
    token = subprocess.run([ZWC, "token", "create", "--department", "lead", *scopes], env=env, check=True,
                           capture_output=True, text=True).stdout.split()[-1]
    server, base = start_serve(env, "--no-worker", stdout=tmp_path / "serve.log")
    try:
        run = subprocess.run(
            [BIN / "schemathesis", "run", f"{base}/openapi.json", "--phases", "stateful",
             "--header", f"Authorization: Bearer {token}", "--max-examples", str(SCENARIOS), "--checks", CHECKS,
             "--no-color", "--request-timeout", "30"],  # a failure's output names its seed
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    scenarios = re.search(r"Scenarios:\s+(\d+)", output)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", output)
    assert scenarios is not None, output[-3000:]
    assert links is not None, output[-3000:]
    print(f"stateful on {backend}: {scenarios.group(1)} scenarios, {links.group(1)} of {links.group(2)} inferred "
          f"links followed")
    assert int(scenarios.group(1)) > 0
    assert int(links.group(2)) > 100  # the inference found the document's links
