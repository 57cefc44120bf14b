"""docs/QUICKSTART.md and docs/QUICKSTART.zh-CN.md run as written.

The two languages carry the same code blocks. Every block marked `<!-- tested: tests/test_guide_quickstart.py -->`
is taken from both files (they must be identical) and run, in order, by one `bash` against a real `zwc serve`
on a fresh SQLite database, with `API` and `TOKEN` (the bootstrap token the server printed) set as the guide
says, from the repository's root. Each block's output is checked against what the guide says comes back.

Figures by hand (catalogue: 2.3.01 is an annual `percent`, `increase`, no baseline, target 40 in 2025, led
by cgj; 5.1.04 counts certified scenic cells, target 3 in 2023; SPEC §6):
  2.3.01  3400 / 10000 → value 100 × 3400 / 10000 = 34; score 100 × 34 / 40 = 85; expected progress in 2024
          100 × (2024 − 2020) / (2025 − 2020) = 80; 85 ≥ 80 → on_track
  5.1.04  no scenic cell certified → value 0; score 100 × 0 / 3 = 0; 2024 is after the target year, so the
          expected progress is 100 → behind
  1.4.02  no quota set → no target → no_target (no score)
  overall (85 + 0) / 2 = 42.5, coverage 2 / 48 = 0.041666… → 0.0417; utilization 85 with 1 of 14 indicators
          (0.0714); public 0 with 1 of 4 (0.25); source_reduction, disposal, support: no score, coverage 0
Token ids on a fresh database: the bootstrap token 1, then cgj 2, lead (review) 3, zzwf 4, jyj (CLI) 5.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import start_serve

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VENV_BIN = ROOT / ".venv" / "bin"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.M | re.S)
TOKEN_LINE = re.compile(r"^zwc_[A-Za-z0-9_-]{43}$")
SEPARATOR = "@@guide-block@@"


def mark(runner: str) -> str:
    return f"<!-- tested: {runner} -->"


def fenced_blocks(name: str) -> list[tuple[str, str, str]]:
    """Every fenced block of docs/``name``: (the line above it, its language, its code)."""
    text = (DOCS / name).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line_above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        found.append((line_above, match.group(1), match.group(2)))
    return found


def marked_blocks(guide: str, runner: str) -> list[str]:
    """The blocks of docs/GUIDE.md marked as run by ``runner``, identical in docs/GUIDE.zh-CN.md."""
    by_language = []
    for name in (f"{guide}.md", f"{guide}.zh-CN.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        blocks = fenced_blocks(name)
        marked = [(lang, code) for above, lang, code in blocks if above == mark(runner)]
        assert text.count(mark(runner)) == len(marked), f"{name}: a tested mark not right above a block"
        assert all(lang == "sh" for lang, _ in marked), f"{name}: tested blocks here are shell"
        by_language.append([code for _, code in marked])
    english, chinese = by_language
    assert english == chinese, f"docs/{guide}.md and docs/{guide}.zh-CN.md differ in their tested blocks"
    return english


def all_blocks_identical(guide: str) -> None:
    """Both languages carry the same code blocks, in the same order (prose aside)."""
    english = [(lang, code) for _, lang, code in fenced_blocks(f"{guide}.md")]
    chinese = [(lang, code) for _, lang, code in fenced_blocks(f"{guide}.zh-CN.md")]
    assert english == chinese


def run_blocks(blocks: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> list[str]:
    """Run the blocks in one bash, in order; answers each block's standard output."""
    script = "".join(f"printf '\\n{SEPARATOR}\\n'\n{block}\n" for block in blocks)
    result = subprocess.run(["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert result.stderr == "", result.stderr[-3000:]
    outputs = result.stdout.split(f"\n{SEPARATOR}\n")
    assert outputs[0] == ""
    return outputs[1:]


def json_values(output: str) -> list[Any]:
    """The JSON documents printed one after another (curl prints no newline between answers)."""
    decoder = json.JSONDecoder()
    values, position = [], 0
    while position < len(output):
        if output[position].isspace():
            position += 1
            continue
        value, position = decoder.raw_decode(output, position)
        values.append(value)
    return values


def bash_env(base: str, token: str, database_url: str) -> dict[str, str]:
    """The environment the guide assumes: API and TOKEN set, the service's database for `zwc`, and the
    project's Python first on the PATH (the guide's `python3`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZWC_")}
    return {**env, "API": base, "TOKEN": token, "ZWC_DATABASE_URL": database_url,
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"}


def start(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[bytes], str, str, str, Path]:
    """`zwc serve` on a fresh SQLite database: the process, its base URL, the bootstrap token, the
    database URL and the log."""
    database_url = f"sqlite:///{tmp_path / 'zwc.db'}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ZWC_")}, "ZWC_DATABASE_URL": database_url,
           "ZWC_FILES_DIR": str(tmp_path / "files"), **settings}
    log = tmp_path / "serve.log"
    process, base = start_serve(env, stdout=log)
    (token,) = [line for line in log.read_text().splitlines() if TOKEN_LINE.match(line)]
    return process, base, token, database_url, log


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def near(moment: str, expected: datetime, seconds: float = 120) -> bool:
    return abs(datetime.fromisoformat(moment) - expected) < timedelta(seconds=seconds)


def test_the_two_languages_carry_the_same_code_blocks() -> None:
    all_blocks_identical("QUICKSTART")
    for name in ("QUICKSTART.md", "QUICKSTART.zh-CN.md"):
        first_lines = (DOCS / name).read_text(encoding="utf-8").splitlines()[:3]
        assert first_lines[1:] == ["", "English · [简体中文](QUICKSTART.zh-CN.md)"
                                   if name == "QUICKSTART.md" else "[English](QUICKSTART.md) · 简体中文"]


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    blocks = marked_blocks("QUICKSTART", "tests/test_guide_quickstart.py")
    assert len(blocks) == 14, "a tested block was added or removed: check it below"
    started = datetime.now(UTC)
    process, base, token, database_url, log = start(tmp_path)
    try:
        # What `zwc serve` prints on an empty database is what the guide shows (its token aside).
        banner = [line for _, lang, code in fenced_blocks("QUICKSTART.md") if lang == "text"
                  for line in code.splitlines()][:5]
        printed = log.read_text().splitlines()[:5]
        assert [TOKEN_LINE.sub("zwc_…", line) for line in printed] == [TOKEN_LINE.sub("zwc_…", line)
                                                                       for line in banner]
        assert TOKEN_LINE.match(banner[3])

        outputs = run_blocks(blocks, bash_env(base, token, database_url), ROOT)
        admin = {"Authorization": f"Bearer {token}"}

        # 0: the `field` helper prints nothing.
        assert outputs[0] == ""
        # 1: /healthz and /readyz.
        assert json_values(outputs[1]) == [{"status": "ok"}, {"status": "ok"}]
        # 2: the bootstrap token: lead office, admin + indicators:admin, a year's lifetime.
        (me,) = json_values(outputs[2])
        assert me["token_id"] == 1
        assert me["token_name"] == "bootstrap admin"
        assert (me["department"]["code"], me["department"]["kind"]) == ("lead", "lead_office")
        assert me["scopes"] == ["admin", "indicators:admin"]
        assert near(me["expires_at"], started + timedelta(days=365))
        # 3: no token → 401 token_missing.
        (problem,) = json_values(outputs[3])
        assert (problem["status"], problem["code"], problem["instance"]) == (401, "token_missing", "/v1/me")
        # 4: three tokens minted; the cgj one is what /v1/me says.
        (me,) = json_values(outputs[4])
        assert me["token_id"] == 2
        assert me["token_name"] == "城管局填报"
        assert (me["department"]["code"], me["department"]["kind"]) == ("cgj", "department")
        assert me["scopes"] == ["submissions:write"]
        listed = httpx.get(f"{base}/v1/tokens", headers=admin, timeout=10).json()["items"]
        assert [(t["id"], t["department"], t["scopes"], t["name"]) for t in listed] == [
            (1, "lead", ["admin", "indicators:admin"], "bootstrap admin"),
            (2, "cgj", ["submissions:write"], "城管局填报"),
            (3, "lead", ["submissions:review"], "领导小组办公室审核"),
            (4, "zzwf", ["aggregates:read"], "郑州市无废城市信息平台"),
            (5, "jyj", ["cells:write"], "教育局无废学校"),  # block 5, below
        ]
        # 5: `zwc token create` on the service's database: a summary line, then the secret alone.
        summary, secret = outputs[5].rstrip("\n").splitlines()
        assert re.fullmatch(r"token 5 for jyj scopes=cells:write expires_at=\S+", summary), summary
        assert TOKEN_LINE.match(secret)
        jyj = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10).json()
        assert (jyj["department"]["code"], jyj["scopes"], jyj["token_name"]) == ("jyj", ["cells:write"],
                                                                                 "教育局无废学校")
        # 6: the draft, its value computed from numerator and denominator.
        (draft,) = json_values(outputs[6])
        assert {k: draft[k] for k in ("id", "indicator", "period", "department", "value", "numerator",
                                      "denominator", "note", "status", "version", "warnings", "evidence")} == {
            "id": 1, "indicator": "2.3.01", "period": "2024", "department": "cgj", "value": 34.0,
            "numerator": 3400.0, "denominator": 10000.0, "note": "住建、城管联合统计", "status": "draft",
            "version": 1, "warnings": [], "evidence": []}
        # 7: submitted by cgj, approved by the lead office.
        submitted, approved = json_values(outputs[7])
        assert (submitted["status"], submitted["version"], submitted["approved_at"]) == ("submitted", 2, None)
        assert (approved["status"], approved["version"], approved["value"]) == ("approved", 3, 34.0)
        assert approved["submitted_at"] == submitted["submitted_at"] is not None
        assert approved["approved_at"] is not None
        # 8: every state kept, with who.
        (revisions,) = json_values(outputs[8])
        assert [(r["revision"], r["action"], r["status"], r["department"], r["token_id"])
                for r in revisions["items"]] == [(1, "created", "draft", "cgj", 2),
                                                  (2, "submitted", "submitted", "cgj", 2),
                                                  (3, "approved", "approved", "lead", 3)]
        assert revisions["next_cursor"] is None
        # 9: the retry replays the first answer; still one submission.
        assert outputs[9].lower().splitlines() == ["http/1.1 201 created", "location: /v1/submissions/1",
                                                   "idempotent-replayed: true"]
        everything = httpx.get(f"{base}/v1/submissions", headers={"Authorization": f"Bearer {secret}"},
                               timeout=10).json()["items"]
        assert [(s["id"], s["status"]) for s in everything] == [(1, "approved")]
        # 10: the scores, by hand (module docstring).
        (scores,) = json_values(outputs[10])
        assert (scores["period"], scores["as_of"], scores["include"]) == ("2024", None, "approved")
        assert scores["overall"] == {"score": 42.5, "coverage": 0.0417}
        assert {c["code"]: (c["score"], c["coverage"]) for c in scores["categories"]} == {
            "source_reduction": (None, 0.0), "utilization": (85.0, 0.0714), "disposal": (None, 0.0),
            "support": (None, 0.0), "public": (0.0, 0.25)}
        indicators = {i["code"]: i for i in scores["indicators"]}
        assert len(indicators) == 48
        assert {code for code, i in indicators.items() if i["score"] is not None} == {"2.3.01", "5.1.04"}
        rate = indicators["2.3.01"]
        assert (rate["value"], rate["score"], rate["status"], rate["expected_progress"]) == (34.0, 85.0, "on_track",
                                                                                            80.0)
        assert rate["formula"] == "100 × v / t = 100 × 34 / 40 = 85"
        scenic = indicators["5.1.04"]
        assert (scenic["value"], scenic["score"], scenic["status"], scenic["expected_progress"]) == (0, 0.0, "behind",
                                                                                                  100.0)
        assert (indicators["1.4.02"]["value"], indicators["1.4.02"]["status"]) == (0, "no_target")
        # 11: Zhengzhou's pull: the same figure with numerator and denominator.
        (pull,) = json_values(outputs[11])
        assert pull["region"] == {"code": "410183", "name_zh": "新密市"}
        assert pull["period"] == "2024"
        assert len(pull["indicators"]) == 48
        (line,) = [i for i in pull["indicators"] if i["code"] == "2.3.01"]
        assert {k: line[k] for k in ("value", "numerator", "denominator", "target", "target_year", "score",
                                     "status")} == {"value": 34.0, "numerator": 3400.0, "denominator": 10000.0,
                                                    "target": 40.0, "target_year": 2025, "score": 85.0,
                                                    "status": "on_track"}
        assert line["approved_at"] == approved["approved_at"]
        # 12: the ETag, then 304.
        etag, status = outputs[12].splitlines()
        assert re.fullmatch(r'"agg-json-[0-9a-f]+"', etag), etag
        assert status == "304"
        # 13: the CSV's header (after the byte-order mark) and the 2.3.01 row.
        header, row = outputs[13].splitlines()
        assert header == ("\ufeffcode,name_zh,unit,value,numerator,denominator,target,target_year,score,status,"
                          "approved_at")
        assert row == ("2.3.01,城市建成区建筑垃圾资源化利用率,%,34.0,3400.0,10000.0,40.0,2025,85.0,on_track,"
                       f"{line['approved_at']}")

        # The guide's claim after the pull: a reporting token cannot pull.
        cgj = httpx.get(f"{base}/v1/aggregates", params={"period": "2024"}, timeout=10,
                        headers={"Authorization": f"Bearer {_minted_cgj(base, token)}"})
        assert (cgj.status_code, cgj.json()["code"]) == (403, "scope_required")
        # Both guides are served under /guides/, as the table of section 2 says.
        for name in ("QUICKSTART.md", "QUICKSTART.zh-CN.md"):
            served = httpx.get(f"{base}/guides/{name}", timeout=10)
            assert served.status_code == 200
            assert served.text == (DOCS / name).read_text(encoding="utf-8")
    finally:
        stop(process)
    assert log.read_text().count(token) == 1  # printed once, never logged


def _minted_cgj(base: str, admin: str) -> str:
    answer = httpx.post(f"{base}/v1/departments/cgj/tokens", json={"scopes": ["submissions:write"]}, timeout=10,
                        headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's curl talks to 127.0.0.1 directly, whatever proxy the machine sets."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
