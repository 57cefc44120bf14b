"""The indicator catalogue's rules: definitions, their validation, and versioned revisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.actor import Actor
from app.core.concurrency import etag_for, require_if_match
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.issues import issue
from app.core.problems import validation_errors
from app.core.timeutil import utcnow
from app.departments import repository as departments
from app.events.service import emit
from app.indicators import repository
from app.indicators.bounds import default_bounds, out_of_range, refused, within_bounds
from app.indicators.models import Indicator, IndicatorVersion
from app.indicators.repository import IndicatorFilter
from app.indicators.schemas import IndicatorCreate, IndicatorDefinition, IndicatorOut, YearValue

RATE_TYPES = ("percent", "ratio")

# Cross-field rules: issue type → (English, Chinese).
ISSUES: dict[str, tuple[str, str]] = {
    "direction_mismatch": ("boolean indicators have direction 'boolean', and only they do",
                           "布尔型指标的方向必须为 boolean，且只有布尔型指标可以如此"),
    "boolean_expected": ("must be true or false for a boolean indicator", "布尔型指标的取值必须为 true 或 false"),
    "number_expected": ("must be a number for this indicator", "该指标的取值必须为数字"),
    "not_integer": ("a count must be a whole number", "计数必须为整数"),
    "baseline_after_target": ("the baseline year must be before the first milestone's year",
                              "基准年份必须早于第一个阶段目标的年份"),
    "milestones_order": ("milestone years must be in ascending order, each year once",
                         "阶段目标的年份须按升序排列，且每年只能有一个"),
    "bounds_order": ("max_value must not be below min_value", "最大值不能小于最小值"),
    "bounds_for_boolean": ("boolean indicators have no bounds", "布尔型指标不设取值范围"),
    "not_a_rate": ("numerator and denominator labels are for percent and ratio indicators only",
                   "只有百分比和比率型指标可以设置分子、分母说明"),
    "duplicate_department": ("a department may appear once, and not as both lead and cooperating",
                             "部门不能重复出现，也不能同时为牵头和配合部门"),
    "cells_source_count": ("indicators fed by the cell registry count cells (value_type 'count')",
                           "由无废细胞登记数据生成的指标必须为计数型（count）"),
    "unknown_department": ("no such department", "部门不存在"),
}


def _issue(loc: list[str | int], kind: str) -> dict[str, Any]:
    return issue(loc, kind, ISSUES)


def value_issues(loc: list[str | int], value: object, value_type: str, minimum: float | None,
                 maximum: float | None) -> list[dict[str, Any]]:
    """Whether one value fits an indicator's value type and bounds (targets, baselines, submissions)."""
    if value_type == "boolean":
        return [] if isinstance(value, bool) else [_issue(loc, "boolean_expected")]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [_issue(loc, "number_expected")]
    if not within_bounds(value, minimum, maximum):
        return [out_of_range(loc, value, minimum, maximum)]
    if value_type == "count" and value != int(value):
        return [_issue(loc, "not_integer")]
    return []


def _bounds_issues(definition: IndicatorDefinition) -> list[dict[str, Any]]:
    if definition.value_type == "boolean":
        return [_issue([name], "bounds_for_boolean") for name in ("min_value", "max_value")
                if getattr(definition, name) is not None]
    if (definition.min_value is not None and definition.max_value is not None
            and definition.min_value > definition.max_value):
        return [_issue(["max_value"], "bounds_order")]
    return []


def definition_issues(definition: IndicatorDefinition) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    if (definition.value_type == "boolean") != (definition.direction == "boolean"):
        issues.append(_issue(["direction"], "direction_mismatch"))
    bounds = _bounds_issues(definition)
    issues += bounds
    minimum, maximum = (None, None) if bounds else (definition.min_value, definition.max_value)
    if definition.baseline is not None:
        issues += value_issues(["baseline", "value"], definition.baseline.value, definition.value_type,
                               minimum, maximum)
    for index, milestone in enumerate(definition.targets):
        issues += value_issues(["targets", index, "value"], milestone.value, definition.value_type, minimum, maximum)
        if index and milestone.year <= definition.targets[index - 1].year:
            issues.append(_issue(["targets", index, "year"], "milestones_order"))
    if definition.baseline and definition.targets and definition.baseline.year >= definition.targets[0].year:
        issues.append(_issue(["baseline", "year"], "baseline_after_target"))
    if definition.value_type not in RATE_TYPES:
        for name in ("numerator_label", "denominator_label"):
            if getattr(definition, name):
                issues.append(_issue([name], "not_a_rate"))
    seen = {definition.lead_department}
    for index, code in enumerate(definition.cooperating_departments):
        if code in seen:
            issues.append(_issue(["cooperating_departments", index], "duplicate_department"))
        seen.add(code)
    if definition.source == "cells" and definition.value_type != "count":
        issues.append(_issue(["source"], "cells_source_count"))
    return issues


async def _department_issues(session: AsyncSession, definition: IndicatorDefinition) -> list[dict[str, Any]]:
    codes = [definition.lead_department, *definition.cooperating_departments]
    known = await departments.existing_codes(session, codes)
    issues = []
    if definition.lead_department not in known:
        issues.append(_issue(["lead_department"], "unknown_department"))
    for index, code in enumerate(definition.cooperating_departments):
        if code not in known:
            issues.append(_issue(["cooperating_departments", index], "unknown_department"))
    return issues


async def validate(session: AsyncSession, definition: IndicatorDefinition, *, single_target: bool = False) -> None:
    """Refuses a definition that breaks a rule. With ``single_target`` the caller gave `target`, not `targets`:
    issues of its one milestone are located at `target`, where the caller put it."""
    issues = definition_issues(definition) + await _department_issues(session, definition)
    if single_target:
        issues = [{**found, "loc": ["target", *found["loc"][2:]]} if found["loc"][:2] == ["targets", 0] else found
                  for found in issues]
    if issues:
        raise refused(issues)


def present_value(value: float | None, value_type: str) -> float | int | bool | None:
    """A stored double as the API shows it: true/false for booleans, whole counts as integers."""
    if value is None:
        return None
    if value_type == "boolean":
        return bool(value)
    if value_type == "count" and value == int(value):
        return int(value)
    return value


Milestone = tuple[int, float]


def _shown(value: float, value_type: str) -> float | int | bool:
    presented = present_value(value, value_type)
    assert presented is not None
    return presented


def _point(year: int | None, value: float | None, value_type: str) -> YearValue | None:
    if year is None or value is None:
        return None
    return YearValue(year=year, value=_shown(value, value_type))


def to_out(code: str, version: IndicatorVersion, cooperating: list[str], milestones: list[Milestone]
           ) -> IndicatorOut:
    targets = [YearValue(year=year, value=_shown(value, version.value_type)) for year, value in milestones]
    return IndicatorOut(
        code=code,
        name_zh=version.name_zh,
        name_en=version.name_en,
        category=version.category,
        group=version.group_name,
        kind=version.kind,
        unit=version.unit,
        value_type=version.value_type,
        direction=version.direction,
        frequency=version.frequency,
        baseline=_point(version.baseline_year, version.baseline_value, version.value_type),
        target=targets[-1] if targets else None,
        targets=targets,
        min_value=version.min_value,
        max_value=version.max_value,
        lead_department=version.lead_department,
        cooperating_departments=cooperating,
        weight=version.weight,
        definition=version.definition,
        source=version.source,
        numerator_label=version.numerator_label,
        denominator_label=version.denominator_label,
        provenance=version.provenance,
        version=version.version,
        valid_from=version.valid_from,
        revised_at=version.created_at,
    )


async def present(session: AsyncSession, rows: Sequence[tuple[str, IndicatorVersion]]) -> list[IndicatorOut]:
    """Versions as the API shows them, their cooperating departments and milestones read in two queries."""
    ids = [version.id for _, version in rows if version.id is not None]
    cooperating = await repository.cooperators(session, ids)
    milestones = await repository.milestones(session, ids)
    return [to_out(code, version, cooperating[version.id], milestones_of(version, milestones[version.id]))
            for code, version in rows if version.id is not None]


def milestones_of(version: IndicatorVersion, rows: list[Milestone]) -> list[Milestone]:
    """A version's milestones: its rows, or for a version written without them (by a replica of the release
    before milestones, during a rolling upgrade) the one target of its own row."""
    if rows or version.target_year is None or version.target_value is None:
        return rows
    return [(version.target_year, version.target_value)]


async def current_of_department(session: AsyncSession, department: str, *, limit: int) -> list[IndicatorOut]:
    """The current definitions of the indicators a department leads or cooperates on, by code."""
    rows = await repository.list_latest(session, IndicatorFilter(department=department), after_code=None,
                                        limit=limit)
    return await present(session, rows)


def definition_of(model: IndicatorOut | IndicatorCreate) -> IndicatorDefinition:
    """The definition fields of a stored version or of a creation request (whose `target`, when given, is its
    one milestone)."""
    data = model.model_dump(include=set(IndicatorDefinition.model_fields))
    if isinstance(model, IndicatorCreate) and "target" in model.model_fields_set:
        data["targets"] = [model.target.model_dump()] if model.target is not None else []
    return IndicatorDefinition.model_validate(data)


def etag(out: IndicatorOut) -> str:
    return etag_for("indicator", out.code, out.version)


async def _add_version(
    session: AsyncSession,
    actor: Actor,
    indicator: Indicator,
    definition: IndicatorDefinition,
    *,
    version: int,
    valid_from: datetime,
    catalogue_digest: str | None,
) -> IndicatorOut:
    assert indicator.id is not None
    now = utcnow()
    row = IndicatorVersion(
        indicator_id=indicator.id,
        version=version,
        valid_from=valid_from.astimezone(UTC),
        name_zh=definition.name_zh,
        name_en=definition.name_en,
        category=definition.category,
        group_name=definition.group,
        kind=definition.kind,
        unit=definition.unit,
        value_type=definition.value_type,
        direction=definition.direction,
        frequency=definition.frequency,
        baseline_year=definition.baseline.year if definition.baseline else None,
        baseline_value=float(definition.baseline.value) if definition.baseline else None,
        target_year=definition.targets[-1].year if definition.targets else None,
        target_value=float(definition.targets[-1].value) if definition.targets else None,
        min_value=definition.min_value,
        max_value=definition.max_value,
        lead_department=definition.lead_department,
        weight=definition.weight,
        definition=definition.definition,
        source=definition.source,
        numerator_label=definition.numerator_label,
        denominator_label=definition.denominator_label,
        provenance=definition.provenance,
        catalogue_digest=catalogue_digest,
        created_at=now,
        created_by_token_id=actor.token_id,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    milestones = [(target.year, float(target.value)) for target in definition.targets]
    repository.add_cooperators(session, row.id, definition.cooperating_departments)
    repository.add_milestones(session, row.id, milestones)
    indicator.latest_version = version
    session.add(indicator)
    await session.flush()
    return to_out(indicator.code, row, list(definition.cooperating_departments), milestones)


async def get(session: AsyncSession, code: str) -> IndicatorOut:
    indicator = await repository.get_indicator(session, code)
    if indicator is None:
        raise NotFound(entity="indicator", id=code)
    assert indicator.id is not None
    version = await repository.get_version(session, indicator.id, indicator.latest_version)
    return (await present(session, [(code, version)]))[0]


def with_default_bounds(definition: IndicatorDefinition, given: set[str]) -> IndicatorDefinition:
    """The value type's default for each bound not in ``given`` (SPEC §6.1)."""
    minimum, maximum = default_bounds(definition.value_type)
    defaults = {name: bound for name, bound in (("min_value", minimum), ("max_value", maximum)) if name not in given}
    return definition.model_copy(update=defaults)


async def define(
    session: AsyncSession, actor: Actor, body: IndicatorCreate, *, catalogue_digest: str | None = None
) -> IndicatorOut:
    """A new indicator, as version 1; bounds not given take the value type's defaults."""
    definition = with_default_bounds(definition_of(body), body.model_fields_set)
    await validate(session, definition, single_target="target" in body.model_fields_set)
    if await repository.get_indicator(session, body.code) is not None:
        raise Conflict("indicator_exists", code=body.code)
    now = utcnow()
    indicator = Indicator(code=body.code, latest_version=1, created_at=now)
    session.add(indicator)
    await session.flush()
    out = await _add_version(session, actor, indicator, definition, version=1,
                             valid_from=body.valid_from or now, catalogue_digest=catalogue_digest)
    record(session, actor, action="indicator.created", entity="indicator", entity_id=body.code,
           after=out.model_dump(mode="json"))
    return out


def merged_changes(current: IndicatorDefinition, changes: dict[str, Any]) -> dict[str, Any]:
    """A PATCH's changes onto the current definition: `target` sets a one-milestone `targets`; with a new value
    type, each bound not given takes that type's default."""
    changes = dict(changes)
    if "target" in changes:
        target = changes.pop("target")
        changes["targets"] = [] if target is None else [target]
    merged = current.model_dump()
    if changes.get("value_type", current.value_type) != current.value_type:
        minimum, maximum = default_bounds(changes["value_type"])
        merged.update(min_value=minimum, max_value=maximum)
    merged.update(changes)
    return merged


async def revise(
    session: AsyncSession,
    actor: Actor,
    code: str,
    changes: dict[str, Any],
    *,
    valid_from: datetime | None,
    if_match: str | None,
) -> tuple[IndicatorOut, bool]:
    """Apply ``changes`` as a new version. Answers the current definition and whether it changed."""
    indicator = await repository.get_indicator(session, code, for_update=True)
    if indicator is None:
        raise NotFound(entity="indicator", id=code)
    current = await get(session, code)
    require_if_match(if_match, etag(current))
    merged = merged_changes(definition_of(current), changes)
    try:
        definition = IndicatorDefinition.model_validate(merged)
    except ValidationError as exc:
        raise Unprocessable(errors=validation_errors(exc.errors())) from None
    await validate(session, definition, single_target="target" in changes)
    if definition == definition_of(current) and valid_from is None:
        return current, False
    effective = valid_from or utcnow()
    if effective < current.valid_from:
        raise Unprocessable("invalid_valid_from", current=current.valid_from.isoformat(),
                            errors=[{"loc": ["valid_from"], "msg": "earlier than the current version",
                                     "msg_zh": "早于当前版本的生效时间", "type": "invalid_valid_from"}])
    return await append_version(session, actor, indicator, current, definition, valid_from=effective,
                                catalogue_digest=None), True


async def append_version(session: AsyncSession, actor: Actor, indicator: Indicator, current: IndicatorOut,
                         definition: IndicatorDefinition, *, valid_from: datetime, catalogue_digest: str | None
                         ) -> IndicatorOut:
    """A new version after ``current`` (the indicator's row locked by the caller), audited and announced.
    The caller has validated the definition and decided its ``valid_from``."""
    revised = await _add_version(session, actor, indicator, definition, version=current.version + 1,
                                 valid_from=valid_from, catalogue_digest=catalogue_digest)
    before = current.model_dump(mode="json")
    after = revised.model_dump(mode="json")
    record(session, actor, action="indicator.revised", entity="indicator", entity_id=indicator.code,
           before=before, after=after)
    await emit(session, "indicator.revised", entity="indicator", entity_id=indicator.code,
               data={"code": indicator.code, "version": revised.version, "valid_from": after["valid_from"],
                     "previous_version": current.version})
    return revised
