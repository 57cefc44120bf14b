"""Reads the reference catalogue shipped in ``app/catalogue/data/`` (built from ../shared/data)."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from app.core.timeutil import SHANGHAI
from app.indicators.schemas import IndicatorCreate
from app.indicators.service import definition_of

# Catalogue entries are in force from the earliest period the service accepts (2016), so every
# historical period has a definition to be validated and scored with.
CATALOGUE_VALID_FROM = datetime(2016, 1, 1, tzinfo=SHANGHAI)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("app.catalogue").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _number_or_bool(raw: str) -> float | bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return float(raw)


def _point(year: str, value: str) -> dict[str, Any] | None:
    if not year.strip() or not value.strip():
        return None
    return {"year": int(year), "value": _number_or_bool(value)}


def _bound(raw: str) -> float | None:
    return float(raw) if raw.strip() else None


@dataclass(frozen=True)
class CatalogueIndicator:
    body: IndicatorCreate
    digest: str


def digest_of(body: IndicatorCreate) -> str:
    """SHA-256 of an entry's definition (not its code or validity), as canonical JSON."""
    canonical = json.dumps(definition_of(body).model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def indicators() -> list[CatalogueIndicator]:
    result = []
    for row in _rows("indicators.csv"):
        body = IndicatorCreate(
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            category=row["category"],
            group=row["group"],
            kind=row["kind"],
            unit=row["unit"],
            value_type=row["value_type"],
            direction=row["direction"],
            frequency=row["frequency"],
            baseline=_point(row["baseline_year"], row["baseline_value"]),
            targets=[point] if (point := _point(row["target_year"], row["target_value"])) else [],
            min_value=_bound(row["min_value"]),
            max_value=_bound(row["max_value"]),
            lead_department=row["lead_department"],
            cooperating_departments=[code for code in row["cooperating_departments"].split(";") if code],
            definition=row["definition"],
            source=row["source"],
            numerator_label=row["numerator_label"] or None,
            denominator_label=row["denominator_label"] or None,
            provenance=row["provenance"] or None,
            valid_from=CATALOGUE_VALID_FROM,
        )
        result.append(CatalogueIndicator(body=body, digest=digest_of(body)))
    return result


def departments() -> list[dict[str, str]]:
    return [{"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"], "kind": r["kind"]}
            for r in _rows("departments.csv")]


def towns() -> list[dict[str, str]]:
    return [{"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"], "kind": r["kind"]}
            for r in _rows("towns.csv")]


def cell_types() -> list[dict[str, Any]]:
    return [
        {
            "code": r["code"],
            "name_zh": r["name_zh"],
            "name_en": r["name_en"],
            "responsible_department": r["responsible_department"],
            "pass_score": int(r["pass_score"]),
            "validity_years": int(r["validity_years"]),
        }
        for r in _rows("cell-types.csv")
    ]


def cell_criteria() -> list[tuple[dict[str, Any], list[str] | None]]:
    """Each criterion with the cell types it applies to (None: all types)."""
    result = []
    for r in _rows("cell-criteria.csv"):
        applies = r["applies_to"].strip()
        result.append((
            {
                "code": r["criterion"],
                "name_zh": r["name_zh"],
                "name_en": r["name_en"],
                "max_points": int(r["max_points"]),
                "bonus": r["bonus"].strip().lower() == "true",
            },
            None if applies == "all" else [code for code in applies.split(";") if code],
        ))
    return result


def planned_cells() -> list[dict[str, str]]:
    """The cells the plan names (status `planned`); `note` records how the town was chosen."""
    return [{"type": r["type"], "name": r["name"], "town": r["town"]} for r in _rows("planned-cells.csv")]
