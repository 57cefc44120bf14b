"""`GET /v1/towns`: every town a cell's `town` may name, with its Chinese and English names, paged like
every list.

The towns, by hand from the catalogue (app/catalogue/data/towns.csv, itself from ../shared/data/towns.csv):
Xinmi's four subdistricts, thirteen towns, one township and the Fuxishan development zone's management
area, 18 in all; listed by code.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import assert_problem, bearer, make_token, sql, sql_write

TOWNS = [
    {"code": "baizhai", "name_zh": "白寨镇", "name_en": "Baizhai Town", "kind": "town"},
    {"code": "chaohua", "name_zh": "超化镇", "name_en": "Chaohua Town", "kind": "town"},
    {"code": "chengguan", "name_zh": "城关镇", "name_en": "Chengguan Town", "kind": "town"},
    {"code": "dakui", "name_zh": "大隗镇", "name_en": "Dakui Town", "kind": "town"},
    {"code": "fuxishan", "name_zh": "伏羲山旅游开发区", "name_en": "Fuxishan Tourism Development Zone",
     "kind": "district"},
    {"code": "goutang", "name_zh": "苟堂镇", "name_en": "Goutang Town", "kind": "town"},
    {"code": "kuangqu", "name_zh": "矿区街道", "name_en": "Kuangqu Subdistrict", "kind": "subdistrict"},
    {"code": "laiji", "name_zh": "来集镇", "name_en": "Laiji Town", "kind": "town"},
    {"code": "liuzhai", "name_zh": "刘寨镇", "name_en": "Liuzhai Town", "kind": "town"},
    {"code": "micun", "name_zh": "米村镇", "name_en": "Micun Town", "kind": "town"},
    {"code": "niudian", "name_zh": "牛店镇", "name_en": "Niudian Town", "kind": "town"},
    {"code": "pingmo", "name_zh": "平陌镇", "name_en": "Pingmo Town", "kind": "town"},
    {"code": "qingpingjie", "name_zh": "青屏街街道", "name_en": "Qingpingjie Subdistrict", "kind": "subdistrict"},
    {"code": "quliang", "name_zh": "曲梁镇", "name_en": "Quliang Town", "kind": "town"},
    {"code": "xidajie", "name_zh": "西大街街道", "name_en": "Xidajie Subdistrict", "kind": "subdistrict"},
    {"code": "xinhualu", "name_zh": "新华路街道", "name_en": "Xinhualu Subdistrict", "kind": "subdistrict"},
    {"code": "yuanzhuang", "name_zh": "袁庄乡", "name_en": "Yuanzhuang Township", "kind": "township"},
    {"code": "yuecun", "name_zh": "岳村镇", "name_en": "Yuecun Town", "kind": "town"},
]


@pytest.fixture
async def reader(app: Any) -> str:
    """Any token will do: one with no scope at all."""
    return await make_token(app, "zzwf", [], name="no scope")


async def towns(client: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await client.get("/v1/towns", headers=bearer(token), params=params)


async def test_every_town_is_listed_by_code_with_both_names(client: httpx.AsyncClient, reader: str) -> None:
    response = await towns(client, reader)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": TOWNS, "next_cursor": None}
    assert len(TOWNS) == 18


async def test_the_list_pages_through_with_a_cursor(client: httpx.AsyncClient, reader: str) -> None:
    pages, cursor = [], None
    while True:
        body = (await towns(client, reader, limit=5, **({"cursor": cursor} if cursor else {}))).json()
        pages.append([item["code"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5
    assert [len(page) for page in pages] == [5, 5, 5, 3]
    assert [code for page in pages for code in page] == [town["code"] for town in TOWNS]
    # A page that ends exactly at the last town says so.
    exact = (await towns(client, reader, limit=18)).json()
    assert (len(exact["items"]), exact["next_cursor"]) == (18, None)


async def test_bad_paging_is_refused(client: httpx.AsyncClient, reader: str) -> None:
    for limit in (0, 501, "x"):
        body = assert_problem(await towns(client, reader, limit=limit), 422, "validation_failed")
        assert [e["loc"] for e in body["errors"]] == [["query", "limit"]]
    assert (await towns(client, reader, limit=500)).status_code == 200
    assert_problem(await towns(client, reader, cursor="not-a-cursor"), 400, "invalid_cursor")
    other_list = (await client.get("/v1/cell-types", headers=bearer(reader), params={"limit": 1})).json()
    assert_problem(await towns(client, reader, cursor=other_list["next_cursor"]), 400, "invalid_cursor")


async def test_a_token_is_needed(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/towns"), 401, "token_missing")


async def test_a_town_without_its_english_name_yet_says_null(app: Any, client: httpx.AsyncClient,
                                                             reader: str) -> None:
    """A database migrated but not seeded since the English names came: null until `zwc seed`."""
    await sql_write(app, "UPDATE towns SET name_en = NULL WHERE code = 'micun'")
    items = (await towns(client, reader)).json()["items"]
    assert [item for item in items if item["name_en"] is None] == [
        {"code": "micun", "name_zh": "米村镇", "name_en": None, "kind": "town"}]
    assert await sql(app, "SELECT count(*) FROM towns WHERE name_en IS NULL") == [(1,)]
