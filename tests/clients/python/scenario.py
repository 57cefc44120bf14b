"""The Python client check's scenario (issue 9, item 3), written as an integrator would, with the client
`openapi-python-client` generated from openapi/openapi.json (package `zwc_client`, on sys.path).

Run by tests/test_python_client.py in .venv-clients against a real `zwc serve`; prints one JSON line of
what it saw, which the test checks against the database. Arguments: BASE_URL, then a JSON object of
tokens (nyj, lead, zzwf, jyj).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from zwc_client import AuthenticatedClient
from zwc_client.api.aggregates import get_aggregates
from zwc_client.api.cells import create_cell, inspect_cell
from zwc_client.api.changes import list_changes
from zwc_client.api.files import upload_file
from zwc_client.api.submissions import approve_submission, create_submission, submit_submission
from zwc_client.api.webhooks import create_webhook
from zwc_client.models import (
    AggregatesOut,
    BodyUploadFile,
    CellCreate,
    ChangePage,
    FileOut,
    InspectionCreate,
    InspectionOut,
    SubmissionCreate,
    SubmissionOut,
    WebhookCreate,
    WebhookCreated,
    WebhookCreateEventsItem,
)
from zwc_client.types import File, Unset

# A 1×1 PNG: the service recognises files by their content.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


class SignedReceiver:
    """A webhook receiver that verifies `X-ZWC-Signature` (t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>)
    with the subscription's secret, and keeps the events it accepted."""

    def __init__(self) -> None:
        self.secret = ""
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", self.headers.get("X-ZWC-Signature", ""))
                expected = hmac.new(receiver.secret.encode(), f"{match.group(1)}.".encode() + body,
                                    hashlib.sha256).hexdigest() if match else ""
                fresh = match is not None and abs(time.time() - int(match.group(1))) < 300
                if match and fresh and hmac.compare_digest(expected, match.group(2)):
                    receiver.accepted.append(json.loads(body))
                    self.send_response(204)
                else:
                    receiver.refused += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/zwc/events"


def main() -> None:
    base_url, tokens = sys.argv[1], json.loads(sys.argv[2])

    def client(name: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=base_url, token=tokens[name], raise_on_unexpected_status=True)

    seen: dict[str, Any] = {}
    receiver = SignedReceiver()

    # Zhengzhou subscribes to approvals and inspections.
    hook = create_webhook.sync(client=client("zzwf"), body=WebhookCreate(url=receiver.url, events=[
        WebhookCreateEventsItem("submission.approved"), WebhookCreateEventsItem("cell.inspected")]))
    assert isinstance(hook, WebhookCreated), hook
    receiver.secret = hook.secret

    # A department reports a rate; the network drops the answer, so the app retries with the same key.
    body = SubmissionCreate(indicator="2.2.01", period="2024", numerator=90, denominator=100)
    first = create_submission.sync_detailed(client=client("nyj"), body=body, idempotency_key="nyj-2024-2.2.01")
    retried = create_submission.sync_detailed(client=client("nyj"), body=body, idempotency_key="nyj-2024-2.2.01")
    assert isinstance(first.parsed, SubmissionOut), first
    assert isinstance(retried.parsed, SubmissionOut), retried
    seen["created"] = [first.status_code.value, retried.status_code.value]
    seen["replayed"] = retried.headers.get("Idempotent-Replayed")
    seen["same_submission"] = first.parsed.id == retried.parsed.id
    submission_id = first.parsed.id
    # The note is optional; openapi-python-client 0.29.1 sends its UNSET default as JSON, so say "none".
    submitted = submit_submission.sync(submission_id, client=client("nyj"), body=None)
    assert isinstance(submitted, SubmissionOut), submitted
    # The lead office approves.
    approved = approve_submission.sync(submission_id, client=client("lead"), body=None)
    assert isinstance(approved, SubmissionOut), approved
    seen["submission"] = {"id": submission_id, "status": str(approved.status), "value": approved.value}

    # Zhengzhou pulls, then pulls again with the ETag: nothing changed, 304.
    pulled = get_aggregates.sync_detailed(client=client("zzwf"), period="2024")
    assert isinstance(pulled.parsed, AggregatesOut), pulled
    (rate,) = [row for row in pulled.parsed.indicators if row.code == "2.2.01"]
    etag = pulled.headers["ETag"]
    again = get_aggregates.sync_detailed(client=client("zzwf"), period="2024", if_none_match=etag)
    seen["pull"] = {"value": rate.value, "score": rate.score, "status": str(rate.status),
                    "conditional_status": again.status_code.value}
    # … and reads the change feed to its end.
    events: list[str] = []
    cursor: str | None = None
    while True:
        page = list_changes.sync(client=client("zzwf"), after=cursor) if cursor else list_changes.sync(
            client=client("zzwf"))
        assert isinstance(page, ChangePage), page
        events += [str(item.event) for item in page.items]
        if not page.items:
            break
        cursor = page.items[-1].cursor
    seen["feed_events"] = events

    # A mobile app: a school applies, then an inspection with a photo taken on site.
    cell = create_cell.sync(client=client("jyj"), body=CellCreate(
        type_="school", name="客户端测试学校", town="qingpingjie", address="青屏大街 7 号"))
    photo = upload_file.sync(client=client("jyj"), body=BodyUploadFile(
        file=File(payload=io.BytesIO(PNG), file_name="site.png", mime_type="image/png")),
        idempotency_key="jyj-photo-1")
    assert isinstance(photo, FileOut), photo
    assert cell is not None, cell
    assert not hasattr(cell, "code"), cell  # a cell, not a problem
    inspection = inspect_cell.sync(cell.id, client=client("jyj"), idempotency_key="jyj-inspection-1",
                                   body=InspectionCreate(inspected_at=datetime.now(UTC), inspector="李检查",
                                                         findings="分类投放规范", photos=[photo.id]))
    assert isinstance(inspection, InspectionOut), inspection
    seen["inspection"] = {"id": inspection.id, "cell_id": cell.id, "photos": list(inspection.photos or []),
                          "photo": photo.id}

    # The webhook receiver gets both events, each verified.
    deadline = time.monotonic() + 20
    while len(receiver.accepted) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    seen["webhooks"] = {"accepted": sorted(event["event"] for event in receiver.accepted),
                        "refused": receiver.refused}
    print(json.dumps(seen, ensure_ascii=False, default=lambda value: None if isinstance(value, Unset) else str(value)))


if __name__ == "__main__":
    main()
