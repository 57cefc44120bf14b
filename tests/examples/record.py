"""Records the OpenAPI examples on a new database: `python -m tests.examples.record [--write]`.

Without ``--write`` the recording is printed; with it, `app/core/openapi_examples.json` is rewritten (then run
`./scripts/export-openapi`). `tests/test_openapi_examples.py` records again and compares with the committed file.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
import time_machine

from app.core.config import Settings
from app.core.openapi_examples import EXAMPLES_FILE
from app.main import create_app, openapi_document
from tests.examples import scenario
from tests.examples.recorder import Recorder


def settings_for(database_url: str, files_dir: Path) -> Settings:
    return Settings(database_url=database_url, files_dir=files_dir, webhook_allow_private=True,
                    rate_limit="100000/minute", gc_tuning=False, _env_file=None)  # type: ignore[call-arg]


def record(database_url: str, files_dir: Path, prepare: bool = True) -> str:
    """Prepare the database (migrations and catalogue, as `zwc serve` does) and record the scenario on it,
    all under the scenario's frozen clock; answers the recording."""
    from tests.conftest import create_database

    with time_machine.travel(scenario.START, tick=False) as clock:
        if prepare:
            create_database(database_url)
        settings = settings_for(database_url, files_dir)
        return asyncio.run(_record(settings, clock))


async def _record(settings: Settings, clock: time_machine.Coordinates) -> str:
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            recorder = Recorder(http, clock, openapi_document())
            await scenario.run(recorder, app, settings)
            return recorder.recording()
    finally:
        if app.state.rate_limiter is not None:
            await app.state.rate_limiter.close()
        await app.state.database.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        recording = record(f"sqlite:///{folder}/examples.db", Path(folder) / "files")
    if "--write" in sys.argv[1:]:
        EXAMPLES_FILE.write_text(recording, encoding="utf-8")
        print(f"wrote {EXAMPLES_FILE}")
    else:
        sys.stdout.write(recording)


if __name__ == "__main__":
    main()
