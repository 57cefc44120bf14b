"""Evidence files: content-addressed storage, type by content, limits, and who may download what."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import UploadFile
from openpyxl import Workbook

from app.core.actor import Actor
from app.core.config import Settings
from app.core.errors import PayloadTooLarge
from app.files import service
from app.main import create_app
from tests.factories import assert_problem, bearer, make_token, sql, sql_write

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(marker: bytes = b"") -> bytes:
    """A real 1×1 grey PNG (``marker`` goes into a text chunk, to vary the bytes)."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"tEXt", b"Comment\0" + marker)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00\x80")) + _png_chunk(b"IEND", b""))


def jpeg_bytes() -> bytes:
    """A JFIF header, some bytes, and the end-of-image marker."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(64)) + b"\xff\xd9"


def pdf_bytes() -> bytes:
    return (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")


def xlsx_bytes() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["indicator", "period", "value"])
    sheet.append(["1.1.02", "2024", 87.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bytes() -> bytes:
    """A valid ZIP that is not a workbook."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def blob_path(settings: Settings, content: bytes) -> Path:
    digest = hashlib.sha256(content).hexdigest()
    return Path(settings.files_dir) / digest[:2] / digest[2:4] / digest


def stored_blobs(settings: Settings) -> list[Path]:
    root = Path(settings.files_dir)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []




async def upload(client: httpx.AsyncClient, token: str, content: bytes, filename: str = "evidence.bin",
                 content_type: str = "application/octet-stream", **headers: str) -> httpx.Response:
    return await client.post("/v1/files", headers=bearer(token, **headers),
                             files={"file": (filename, content, content_type)})


def multipart(content: bytes, disposition: str, boundary: str = "zwc-test-boundary") -> tuple[bytes, str]:
    """A hand-built multipart body (for what httpx will not send, e.g. an empty filename)."""
    body = (f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def file_count(app: Any) -> int:
    return int((await sql(app, "SELECT count(*) FROM files"))[0][0])


async def link_to_submission(app: Any, file_id: str, status: str, department: str = "sthj") -> None:
    """A submission of ``department`` in ``status`` whose evidence names the file."""
    approved_at = "CURRENT_TIMESTAMP" if status == "approved" else "NULL"
    await sql_write(
        app,
        "INSERT INTO submissions (indicator, indicator_version, period, period_start, period_end, department, "
        "value, evidence, status, version, created_at, updated_at, approved_at) VALUES ('1.1.02', 1, '2024', "
        "'2024-01-01', '2025-01-01', :department, 87.5, '[]', :status, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
        f"{approved_at})",
        department=department, status=status,
    )
    rows = await sql(app, "SELECT id FROM submissions WHERE indicator = '1.1.02' AND period = '2024'")
    await sql_write(app, "INSERT INTO submission_evidence_files (submission_id, file_id) VALUES (:sid, :fid)",
                    sid=rows[0][0], fid=file_id)


@pytest.fixture
async def writer(app: Any) -> str:
    return await make_token(app, "sthj", ["submissions:write"], name="sthj writer")


@pytest.fixture
async def other(app: Any) -> str:
    return await make_token(app, "cgj", ["submissions:write"], name="cgj writer")


@pytest.fixture
async def reviewer(app: Any) -> str:
    return await make_token(app, "lead", ["submissions:review"], name="lead reviewer")


@pytest.fixture
async def uploaded(client: httpx.AsyncClient, writer: str) -> dict[str, Any]:
    response = await upload(client, writer, pdf_bytes(), "报告 v1.pdf", "application/pdf")
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("make", "filename", "media_type"),
    [
        (png_bytes, "photo.png", "image/png"),
        (jpeg_bytes, "site.jpg", "image/jpeg"),
        (pdf_bytes, "audit report.pdf", "application/pdf"),
        (xlsx_bytes, "台账.xlsx", XLSX_TYPE),
    ],
    ids=["png", "jpeg", "pdf", "xlsx"],
)
async def test_upload_recognises_each_type_and_stores_it_by_content(
    app: Any, client: httpx.AsyncClient, settings: Settings, writer: str, make: Any, filename: str,
    media_type: str
) -> None:
    content = make()
    response = await upload(client, writer, content, filename)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "sha256", "size", "media_type", "filename", "department", "created_at"}
    assert body["media_type"] == media_type
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["filename"] == filename
    assert body["department"] == "sthj"
    assert len(body["id"]) == 32
    assert response.headers["location"] == f"/v1/files/{body['id']}"
    path = blob_path(settings, content)
    assert path.read_bytes() == content
    assert stored_blobs(settings) == [path]
    token_id = (await sql(app, "SELECT id FROM api_tokens WHERE name = 'sthj writer'"))[0][0]
    rows = await sql(app, "SELECT sha256, size, media_type, filename, department, token_id FROM files WHERE id = :id",
                     id=body["id"])
    assert [tuple(row) for row in rows] == [
        (hashlib.sha256(content).hexdigest(), len(content), media_type, filename, "sthj", token_id)
    ]


async def test_any_writer_scope_may_upload(client: httpx.AsyncClient, app: Any) -> None:
    cells = await make_token(app, "jyj", ["cells:write"])
    response = await upload(client, cells, png_bytes(), "school.png")
    assert response.status_code == 201, response.text
    assert response.json()["department"] == "jyj"


async def test_same_bytes_twice_make_two_rows_and_one_blob(
    app: Any, client: httpx.AsyncClient, settings: Settings, writer: str
) -> None:
    content = png_bytes(b"twice")
    first = await upload(client, writer, content, "a.png")
    path = blob_path(settings, content)
    inode = path.stat().st_ino
    second = await upload(client, writer, content, "b.png")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["sha256"] == second.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert await file_count(app) == 2
    # One blob, not rewritten (a rewrite would be a new file renamed over it), no temporary left behind.
    assert stored_blobs(settings) == [path]
    assert path.stat().st_ino == inode


# (case id, content, filename, content type)
UNRECOGNISED: list[tuple[str, bytes, str, str]] = [
    ("text", b"this is plain text, not a picture\n", "photo.png", "image/png"),
    ("zip-not-workbook", zip_bytes(), "book.xlsx", XLSX_TYPE),
    ("broken-zip", b"PK\x03\x04 not really a zip", "book.xlsx", XLSX_TYPE),
    ("empty", b"", "empty.pdf", "application/pdf"),
    ("gif", b"GIF89a\x01\x00\x01\x00", "anim.gif", "image/gif"),
]


async def test_unrecognised_content_is_415_and_nothing_is_stored(
    app: Any, client: httpx.AsyncClient, settings: Settings, writer: str, subtests: pytest.Subtests
) -> None:
    """Every case on one database and files directory: each is refused, and still nothing is stored."""
    for case_id, content, filename, content_type in UNRECOGNISED:
        with subtests.test(msg=case_id):
            response = await upload(client, writer, content, filename, content_type)
            body = assert_problem(response, 415, "unsupported_file_type")
            assert all(kind in body["detail"] for kind in ("JPEG", "PNG", "PDF", "XLSX"))
            assert await file_count(app) == 0
            assert stored_blobs(settings) == []
            assert await sql(app, "SELECT count(*) FROM audit_events WHERE action = 'file.uploaded'") == [(0,)]


async def test_unrecognised_content_is_explained_in_chinese(client: httpx.AsyncClient, writer: str) -> None:
    response = await upload(client, writer, b"hello", "photo.png", "image/png", **{"Accept-Language": "zh-CN"})
    body = assert_problem(response, 415, "unsupported_file_type")
    assert body["title"] == "不支持的文件类型"
    assert "JPEG、PNG、PDF 或 XLSX" in body["detail"]


async def test_type_comes_from_content_not_name_or_declared_type(
    client: httpx.AsyncClient, settings: Settings, writer: str
) -> None:
    content = png_bytes(b"named pdf")
    response = await upload(client, writer, content, "x.pdf", "application/pdf")
    assert response.status_code == 201
    assert response.json()["media_type"] == "image/png"
    assert response.json()["filename"] == "x.pdf"
    assert blob_path(settings, content).read_bytes() == content


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('name="file"; filename="C:\\\\Users\\\\me\\\\photo.png"', "photo.png"),
        ('name="file"; filename="../../etc/passwd.png"', "passwd.png"),
        ('name="file"; filename=""', "upload"),
        ('name="file"; filename="' + "长" * 300 + '.png"', "长" * 255),
    ],
    ids=["windows-path", "relative-path", "empty", "too-long"],
)
async def test_stored_filename_is_a_bounded_basename(
    client: httpx.AsyncClient, writer: str, disposition: str, expected: str
) -> None:
    body, content_type = multipart(png_bytes(), disposition)
    response = await client.post("/v1/files", content=body, headers=bearer(writer, **{"Content-Type": content_type}))
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == expected


async def test_missing_file_field_is_422(app: Any, client: httpx.AsyncClient, writer: str) -> None:
    response = await client.post("/v1/files", headers=bearer(writer), files={"document": ("a.png", png_bytes())})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["file"]
    assert await file_count(app) == 0


async def test_json_body_is_415(app: Any, client: httpx.AsyncClient, writer: str) -> None:
    response = await client.post("/v1/files", headers=bearer(writer), json={"file": "aGVsbG8="})
    body = assert_problem(response, 415, "unsupported_media_type")
    assert "multipart/form-data" in body["detail"]
    assert await file_count(app) == 0


async def test_token_without_writer_scope_is_403(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    reader = await make_token(app, "zzwf", ["aggregates:read"])
    response = await upload(client, reader, png_bytes(), "photo.png")
    assert_problem(response, 403, "scope_required")
    assert await file_count(app) == 0
    assert stored_blobs(settings) == []


async def test_no_token_is_401(app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/v1/files", files={"file": ("photo.png", png_bytes(), "image/png")})
    assert_problem(response, 401, "token_missing")
    assert await file_count(app) == 0
    assert stored_blobs(settings) == []


@pytest.fixture
async def small_limit_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    application = create_app(settings.model_copy(update={"max_upload_bytes": 1024}))
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield application, http
    await application.state.database.dispose()


async def test_upload_over_the_limit_is_413_from_content_length(
    small_limit_client: tuple[Any, httpx.AsyncClient], settings: Settings
) -> None:
    application, http = small_limit_client
    token = await make_token(application, "sthj", ["submissions:write"])
    response = await upload(http, token, png_bytes(b"x" * 2048), "big.png")
    body = assert_problem(response, 413, "payload_too_large")
    assert "1024" in body["detail"]
    assert await file_count(application) == 0
    assert stored_blobs(settings) == []
    # Under the limit the same app takes it.
    assert (await upload(http, token, png_bytes(), "small.png")).status_code == 201


async def test_streamed_upload_over_the_limit_is_413(
    small_limit_client: tuple[Any, httpx.AsyncClient], settings: Settings
) -> None:
    application, http = small_limit_client
    token = await make_token(application, "sthj", ["submissions:write"])
    body, content_type = multipart(png_bytes(b"y" * 4096), 'name="file"; filename="big.png"')

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start:start + 512]

    # No Content-Length: the body is counted as it streams.
    response = await http.post("/v1/files", content=chunks(), headers=bearer(token, **{"Content-Type": content_type}))
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
    assert await file_count(application) == 0
    assert stored_blobs(settings) == []


async def test_service_refuses_a_file_past_the_limit_whatever_the_headers_said(
    app: Any, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 100})
    content = png_bytes(b"z" * 200)
    actor = Actor(department="sthj", department_kind="department", scopes=frozenset({"submissions:write"}))
    async with app.state.database.sessionmaker() as session:
        with pytest.raises(PayloadTooLarge):
            await service.upload(session, actor, small, UploadFile(io.BytesIO(content), filename="big.png"))
        await session.rollback()
    assert await file_count(app) == 0
    assert stored_blobs(settings) == []


async def test_uploading_department_downloads_the_same_bytes(
    client: httpx.AsyncClient, writer: str, uploaded: dict[str, Any]
) -> None:
    response = await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(writer))
    assert response.status_code == 200
    assert response.content == pdf_bytes()
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20v1.pdf"
    assert response.headers["etag"] == '"' + hashlib.sha256(pdf_bytes()).hexdigest() + '"'
    assert response.headers["cache-control"] == "private, max-age=0"
    assert response.headers["content-length"] == str(len(pdf_bytes()))
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_another_department_gets_404(
    client: httpx.AsyncClient, other: str, uploaded: dict[str, Any]
) -> None:
    response = await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(other))
    assert_problem(response, 404, "not_found")
    assert response.content.find(b"sthj") == -1


async def test_unknown_id_is_404(client: httpx.AsyncClient, writer: str) -> None:
    body = assert_problem(await client.get("/v1/files/" + "0" * 32, headers=bearer(writer)), 404, "not_found")
    assert "file" in body["detail"]


async def test_approved_submission_makes_the_file_readable_to_everyone(
    app: Any, client: httpx.AsyncClient, other: str, uploaded: dict[str, Any]
) -> None:
    await link_to_submission(app, uploaded["id"], "approved")
    response = await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(other))
    assert response.status_code == 200
    assert response.content == pdf_bytes()
    municipal = await make_token(app, "zzwf", ["aggregates:read"])
    assert (await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(municipal))).status_code == 200


async def test_draft_submission_keeps_the_file_private(
    app: Any, client: httpx.AsyncClient, writer: str, other: str, reviewer: str, uploaded: dict[str, Any]
) -> None:
    await link_to_submission(app, uploaded["id"], "draft")
    assert_problem(await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(other)), 404, "not_found")
    assert_problem(await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(reviewer)), 404, "not_found")
    assert (await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(writer))).status_code == 200


async def test_reviewer_reads_the_file_of_a_submitted_submission(
    app: Any, client: httpx.AsyncClient, other: str, reviewer: str, uploaded: dict[str, Any]
) -> None:
    await link_to_submission(app, uploaded["id"], "submitted")
    response = await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(reviewer))
    assert response.status_code == 200
    assert response.content == pdf_bytes()
    assert_problem(await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(other)), 404, "not_found")


async def test_file_named_in_a_departments_own_draft_is_readable_to_it(
    app: Any, client: httpx.AsyncClient, other: str, uploaded: dict[str, Any]
) -> None:
    # cgj sees its own drafts, so a file named there is readable to cgj, whoever uploaded it.
    await link_to_submission(app, uploaded["id"], "draft", department="cgj")
    assert (await client.get(f"/v1/files/{uploaded['id']}", headers=bearer(other))).status_code == 200


# ------------------------------------------------------------------------------ conditional downloads


def pdf_etag() -> str:
    return '"' + hashlib.sha256(pdf_bytes()).hexdigest() + '"'


async def conditional(client: httpx.AsyncClient, token: str, file_id: str, if_none_match: str) -> httpx.Response:
    return await client.get(f"/v1/files/{file_id}", headers=bearer(token, **{"If-None-Match": if_none_match}))


@pytest.mark.parametrize("if_none_match", [
    "{etag}", "W/{etag}", "*", '"0000", {etag}', '"0000",W/{etag} , "1111"',
], ids=["strong", "weak", "star", "list", "list-weak"])
async def test_a_matching_if_none_match_answers_304(
    client: httpx.AsyncClient, writer: str, uploaded: dict[str, Any], if_none_match: str
) -> None:
    response = await conditional(client, writer, uploaded["id"], if_none_match.format(etag=pdf_etag()))
    assert (response.status_code, response.content) == (304, b"")
    assert (response.headers["etag"], response.headers["cache-control"]) == (pdf_etag(), "private, max-age=0")
    assert "content-type" not in response.headers
    assert "content-disposition" not in response.headers


@pytest.mark.parametrize("if_none_match", ['"0000"', "W/\"0000\"", "", pdf_etag().strip('"'), '"0000", "1111"'],
                         ids=["other", "other-weak", "empty", "unquoted", "list"])
async def test_another_if_none_match_answers_the_file(
    client: httpx.AsyncClient, writer: str, uploaded: dict[str, Any], if_none_match: str
) -> None:
    response = await conditional(client, writer, uploaded["id"], if_none_match)
    assert (response.status_code, response.content) == (200, pdf_bytes())
    assert (response.headers["etag"], response.headers["content-type"]) == (pdf_etag(), "application/pdf")


async def test_who_may_not_read_the_file_gets_404_never_304(
    app: Any, client: httpx.AsyncClient, writer: str, other: str, reviewer: str, uploaded: dict[str, Any]
) -> None:
    for tag in (pdf_etag(), "*"):
        for token in (other, reviewer):
            assert_problem(await conditional(client, token, uploaded["id"], tag), 404, "not_found")
        assert_problem(await conditional(client, writer, "0" * 32, tag), 404, "not_found")
    # Named by a draft: still the other departments' 404; once submitted, the reviewer's 304.
    await link_to_submission(app, uploaded["id"], "draft")
    assert_problem(await conditional(client, reviewer, uploaded["id"], pdf_etag()), 404, "not_found")
    await sql_write(app, "UPDATE submissions SET status = 'submitted' WHERE indicator = '1.1.02'")
    assert (await conditional(client, reviewer, uploaded["id"], pdf_etag())).status_code == 304
    assert_problem(await conditional(client, other, uploaded["id"], "*"), 404, "not_found")


async def test_upload_is_audited(app: Any, client: httpx.AsyncClient, uploaded: dict[str, Any]) -> None:
    token_id = (await sql(app, "SELECT id FROM api_tokens WHERE name = 'sthj writer'"))[0][0]
    rows = await sql(app, "SELECT department, token_id, entity, entity_id, after FROM audit_events "
                          "WHERE action = 'file.uploaded'")
    assert len(rows) == 1
    department, audited_token, entity, entity_id, after = rows[0]
    assert (department, audited_token, entity, entity_id) == ("sthj", token_id, "file", uploaded["id"])
    after_text = str(after)
    assert hashlib.sha256(pdf_bytes()).hexdigest() in after_text
    assert "application/pdf" in after_text


async def test_upload_with_idempotency_key_replays(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    headers = bearer(token, **{"Idempotency-Key": "upload-1"})
    files = {"file": ("scan.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}
    first = await client.post("/v1/files", headers=headers, files=files)
    again = await client.post("/v1/files", headers=headers, files=files)
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await sql(app, "SELECT count(*) FROM files") == [(1,)]


@pytest.mark.parametrize("range_header", ["bytes=abc", "items=0-1", "bytes=5-2", "bytes=999999-"])
async def test_unusable_range_is_ignored_and_the_whole_file_sent(app: Any, client: httpx.AsyncClient,
                                                                 range_header: str) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    content = b"%PDF-1.4\n" + b"x" * 100 + b"\n%%EOF\n"
    uploaded = await client.post("/v1/files", headers=bearer(token),
                                 files={"file": ("a.pdf", content, "application/pdf")})
    response = await client.get(f"/v1/files/{uploaded.json()['id']}",
                                headers=bearer(token, Range=range_header))
    assert response.status_code == 200
    assert response.content == content


async def test_a_valid_range_is_served_partially(app: Any, client: httpx.AsyncClient) -> None:
    token = await make_token(app, "sthj", ["submissions:write"])
    content = b"%PDF-1.4\n" + b"0123456789" + b"\n%%EOF\n"
    uploaded = await client.post("/v1/files", headers=bearer(token),
                                 files={"file": ("a.pdf", content, "application/pdf")})
    response = await client.get(f"/v1/files/{uploaded.json()['id']}", headers=bearer(token, Range="bytes=9-13"))
    assert response.status_code == 206
    assert response.content == b"01234"
