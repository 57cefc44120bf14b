"""The Python client check (issue 9, item 3): a client generated with `openapi-python-client` from the
committed document, into a temporary folder, drives the integrators' scenario
(tests/clients/python/scenario.py) against a real `zwc serve`; the test checks what it saw against the
database. The generator lives in .venv-clients (its typer pin conflicts with the service's), which
scripts/test-clients makes before the suite runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.servers import ZWC, run_checked, start_serve

ROOT = Path(__file__).resolve().parent.parent
CLIENTS_VENV = ROOT / ".venv-clients" / "bin"

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def test_a_generated_python_client_runs_the_integrators_scenario(database_url: str, tmp_path: Path) -> None:
    generator = CLIENTS_VENV / "openapi-python-client"
    assert generator.exists(), "run ./scripts/test-clients first: it makes .venv-clients"
    run_checked([str(generator), "generate", "--path", str(ROOT / "openapi" / "openapi.json"),
          "--output-path", str(tmp_path / "zwc_client"), "--meta", "none"])
    env = {**os.environ, "ZWC_DATABASE_URL": database_url, "ZWC_FILES_DIR": str(tmp_path / "files"),
           "ZWC_WEBHOOK_ALLOW_PRIVATE": "1", "ZWC_WEBHOOK_POLL_SECONDS": "0.2", "ZWC_LOG_LEVEL": "WARNING"}
    tokens = {name: run_checked([ZWC, "token", "create", "--department", department, "--scope", scope],
                         env).split()[-1]
              for name, department, scope in (("nyj", "nyj", "submissions:write"),
                                              ("lead", "lead", "submissions:review"),
                                              ("zzwf", "zzwf", "aggregates:read"), ("jyj", "jyj", "cells:write"))}
    process, base = start_serve(env, stdout=tmp_path / "serve.log")  # delivers webhooks in-process
    try:
        output = run_checked([str(CLIENTS_VENV / "python"), str(ROOT / "tests" / "clients" / "python" / "scenario.py"),
                       base, json.dumps(tokens)], {**os.environ, "PYTHONPATH": str(tmp_path)})
    finally:
        process.terminate()
        process.wait(timeout=30)
    seen = json.loads(output.strip().splitlines()[-1])

    assert seen["created"] == [201, 201]
    assert seen["replayed"] == "true"
    assert seen["same_submission"] is True
    # By hand (tests/test_aggregates.py, RATE_2024): 90 / 100 → 90; 100 × 90 / 95 = 94.74, on track.
    assert seen["submission"]["status"] == "approved"
    assert seen["submission"]["value"] == 90
    assert seen["pull"] == {"value": 90, "score": 94.74, "status": "on_track", "conditional_status": 304}
    # Read after the approval, before the cell: the feed ends with the submission's two events.
    assert seen["feed_events"][-2:] == ["submission.submitted", "submission.approved"]
    assert seen["feed_events"].count("submission.approved") == 1
    assert seen["feed_events"].count("submission.submitted") == 1
    inspection = seen["inspection"]
    assert inspection["photos"] == [inspection["photo"]]
    assert seen["webhooks"] == {"accepted": ["cell.inspected", "submission.approved"], "refused": 0}

    from tests.test_cli import query  # the same database, read directly

    assert query(database_url, "SELECT count(*), min(status) FROM submissions WHERE indicator = '2.2.01' "
                               "AND period = '2024'") == [(1, "approved")]
    assert query(database_url, f"SELECT cell_id FROM cell_inspections WHERE id = {inspection['id']}") == [
        (inspection["cell_id"],)]
    assert query(database_url, f"SELECT role FROM cell_files WHERE file_id = '{inspection['photo']}'") == [("photo",)]
    assert query(database_url, "SELECT status FROM webhook_deliveries ORDER BY event_id") == [
        ("delivered",), ("delivered",)]
