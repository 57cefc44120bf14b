"""The database itself keeps the rules (docs/decisions/0015-database-constraints.md).

On each backend one database is filled through the API (every table gets rows the application wrote),
then every constraint is read back from the database's own catalog and every one of them — CHECK,
UNIQUE, PRIMARY KEY, FOREIGN KEY, NOT NULL and the append-only triggers — is shown to refuse a raw SQL
write that breaks it, each write in its own transaction, leaving the rows as they were. A constraint a
later migration drops fails the catalog half; a constraint added to a model without a case here fails
the coverage check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import BigInteger, CheckConstraint, ForeignKeyConstraint, Integer, Table, UniqueConstraint, inspect
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.core.registry import metadata
from app.events.models import EVENTS
from app.idempotency.models import IdempotencyKey
from app.webhooks.delivery import fan_out, run_once
from tests.factories import bearer, make_token, sql, sql_write

APPEND_ONLY = ("audit_events", "indicator_versions", "submission_revisions")
# Columns a copied history row gets so that it does not collide with the row it was copied from.
FRESH = {"indicator_versions": {"version": "99"}, "submission_revisions": {"revision": "99"}}
# A copied row that must break its primary key and no other unique constraint first.
OTHER_KEYS_FRESH = {"indicator_cooperators": {"position": '"position" + 100'}}

# Every foreign key, by name: each gets a refused write below.
FOREIGN_KEYS = frozenset({
    "fk_api_tokens_department_departments",
    "fk_audit_events_department_departments", "fk_audit_events_token_id_api_tokens",
    "fk_cell_evaluations_cell_id_cells", "fk_cell_evaluations_department_departments",
    "fk_cell_evaluations_token_id_api_tokens",
    "fk_cell_files_cell_id_cells", "fk_cell_files_file_id_files",
    "fk_cell_inspections_cell_id_cells", "fk_cell_inspections_department_departments",
    "fk_cell_inspections_token_id_api_tokens",
    "fk_cell_quota_changes_type_cell_types", "fk_cell_quotas_type_cell_types",
    "fk_cell_type_criteria_cell_type_cell_types", "fk_cell_type_criteria_criterion_cell_criteria",
    "fk_cell_types_responsible_department_departments",
    "fk_cells_certificate_no_certificates", "fk_cells_department_departments", "fk_cells_town_towns",
    "fk_cells_type_cell_types",
    "fk_certificate_counters_type_cell_types", "fk_certificates_cell_id_cells",
    "fk_files_department_departments", "fk_files_token_id_api_tokens",
    "fk_idempotency_keys_token_id_api_tokens",
    "fk_indicator_cooperators_department_departments", "fk_indicator_cooperators_version_id_indicator_versions",
    "fk_indicator_milestones_version_id_indicator_versions",
    "fk_indicators_id_indicator_versions",
    "fk_indicator_versions_created_by_token_id_api_tokens", "fk_indicator_versions_indicator_id_indicators",
    "fk_indicator_versions_lead_department_departments",
    "fk_submission_evidence_files_file_id_files", "fk_submission_evidence_files_submission_id_submissions",
    "fk_submission_revisions_department_departments", "fk_submission_revisions_indicator_indicators",
    "fk_submission_revisions_submission_id_submissions", "fk_submission_revisions_token_id_api_tokens",
    "fk_submissions_created_by_token_id_api_tokens", "fk_submissions_department_departments",
    "fk_submissions_indicator_indicators",
    "fk_webhook_attempts_delivery_id_webhook_deliveries",
    "fk_webhook_deliveries_event_id_outbox_events", "fk_webhook_deliveries_webhook_id_webhooks",
    "fk_webhooks_department_departments", "fk_webhooks_token_id_api_tokens",
})

# Constraints no write can break alone: another constraint always refuses first.
IMPLIED = {
    # (certificate_no, cell_id) is unique because certificate_no alone is the key; it exists as the target of
    # fk_cells_certificate_no_certificates.
    "uq_certificates_certificate_no_cell_id": "pk_certificates",
}


# ------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    constraint: str  # the constraint (or trigger) that must refuse the write
    table: str
    write: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # Rows of `table` the write would change (compared before and after); None for an INSERT, whose table's
    # row count is compared instead.
    where: str | None = None
    column: str | None = None  # the column of a NOT NULL case

    @property
    def kind(self) -> str:
        if self.constraint.startswith("not_null"):
            return "not_null"
        if self.constraint.endswith("_append_only"):
            return "trigger"
        return {"ck": "check", "uq": "unique", "pk": "primary_key", "fk": "foreign_key"}[self.constraint[:2]]

    def expected(self, backend: str) -> str:
        """What the database's refusal says: PostgreSQL names the constraint; SQLite names CHECK constraints
        and the columns of UNIQUE and NOT NULL ones, but not which foreign key failed."""
        if self.kind == "trigger":
            return f"{self.table} is append-only"
        if self.kind == "not_null":
            return (f'null value in column "{self.column}" of relation "{self.table}"' if backend == "postgresql"
                    else f"NOT NULL constraint failed: {self.table}.{self.column}")
        if backend == "postgresql" or self.kind == "check":
            return self.constraint
        if self.kind == "foreign_key":
            return "FOREIGN KEY constraint failed"
        columns = _constraint_columns(self.table, self.constraint)
        return "UNIQUE constraint failed: " + ", ".join(f"{self.table}.{c}" for c in columns)


def _table(name: str) -> Table:
    return metadata.tables[name]


def _constraint_columns(table: str, name: str) -> list[str]:
    for constraint in _table(table).constraints:
        if constraint.name == name:
            return [c.name for c in constraint.columns]
    raise AssertionError(f"no constraint {name} on {table}")


def _q(name: str) -> str:
    return f'"{name}"'


def one_row(table: str) -> str:
    """A WHERE clause picking one row of ``table``: the first by primary key."""
    key = [_q(c.name) for c in _table(table).primary_key.columns]
    columns = ", ".join(key)
    return f"({columns}) = (SELECT {columns} FROM {table} ORDER BY {columns} LIMIT 1)"


def update(constraint: str, table: str, assignments: str, where: str, **params: Any) -> Case:
    return Case(constraint, table, f"UPDATE {table} SET {assignments} WHERE {where}", params, where=where)


def insert(constraint: str, table: str, values: Mapping[str, str], **params: Any) -> Case:
    return Case(constraint, table,
                f"INSERT INTO {table} ({', '.join(map(_q, values))}) VALUES ({', '.join(values.values())})", params)


def copy(constraint: str, table: str, where: str, changes: Mapping[str, str] | None = None, *,
         keep_key: bool = False, column: str | None = None, **params: Any) -> Case:
    """INSERT a copy of the row(s) ``where`` picks, with ``changes`` (SQL expressions by column); the
    generated key is left out unless ``keep_key``."""
    generated = _table(table).autoincrement_column
    columns = [c.name for c in _table(table).columns if keep_key or c is not generated]
    values = [(changes or {}).get(c, _q(c)) for c in columns]
    statement = (f"INSERT INTO {table} ({', '.join(map(_q, columns))}) "
                 f"SELECT {', '.join(values)} FROM {table} WHERE {where}")
    return Case(constraint, table, statement, params, column=column)


def check_cases(ids: Mapping[str, Any]) -> list[Case]:
    """A write breaking each CHECK and UNIQUE constraint, and nothing else."""
    cell, planned, sub, draft = "id = :cell", "id = :planned", "id = :sub", "id = :draft"
    base = {"cell": ids["cell"], "planned": ids["planned"], "sub": ids["sub"], "draft": ids["draft"]}
    department = {"code": "'hbj'", "name_zh": "'环保局'", "name_en": "'EPB'", "kind": "'department'",
                  "created_at": "CURRENT_TIMESTAMP", "updated_at": "CURRENT_TIMESTAMP"}
    town = {"code": "'xin'", "name_zh": "'新镇'", "kind": "'town'"}
    cell_type = {"code": "'tst'", "name_zh": "'测试'", "name_en": "'Test'", "responsible_department": "'jyj'",
                 "pass_score": "80", "validity_years": "3"}
    criterion = {"code": "'tst'", "name_zh": "'测试'", "name_en": "'Test'", "max_points": "10", "bonus": ":no"}
    version = "id = :version"  # 1.1.03: a count, 2022 baseline, 2025 target, no rate labels
    revision = "submission_id = :sub AND revision = 1"  # created: a draft with numerator and denominator
    token, file, evaluation = "id = :token", "id = :file", "id = :evaluation"
    inspection, hook, delivery, attempt = "id = :inspection", "id = :hook", "id = :delivery", "id = :attempt"
    key = "token_id = :idem_token AND key = :idem_key"
    certificate = "certificate_no = :number"
    return [
        # departments
        insert("ck_departments_kind", "departments", {**department, "kind": "'ministry'"}),
        insert("ck_departments_code_length", "departments", {**department, "code": "'h'"}),
        insert("ck_departments_code_format", "departments", {**department, "code": "'Hbj'"}),
        insert("ck_departments_code_format", "departments", {**department, "code": "'hb-j'"}),
        insert("ck_departments_code_format", "departments", {**department, "code": "'1hb'"}),
        insert("ck_departments_name_zh_not_empty", "departments", {**department, "name_zh": "''"}),
        insert("ck_departments_name_en_not_empty", "departments", {**department, "name_en": "''"}),
        # towns, cell types, criteria
        insert("ck_towns_kind", "towns", {**town, "kind": "'village'"}),
        insert("ck_towns_code_not_empty", "towns", {**town, "code": "''"}),
        insert("ck_towns_name_zh_not_empty", "towns", {**town, "name_zh": "''"}),
        insert("ck_cell_types_pass_score_range", "cell_types", {**cell_type, "pass_score": "111"}),
        insert("ck_cell_types_validity_years_range", "cell_types", {**cell_type, "validity_years": "0"}),
        insert("ck_cell_types_code_not_empty", "cell_types", {**cell_type, "code": "''"}),
        insert("ck_cell_types_name_zh_not_empty", "cell_types", {**cell_type, "name_zh": "''"}),
        insert("ck_cell_types_name_en_not_empty", "cell_types", {**cell_type, "name_en": "''"}),
        insert("ck_cell_criteria_max_points_positive", "cell_criteria", {**criterion, "max_points": "0"}, no=False),
        insert("ck_cell_criteria_code_not_empty", "cell_criteria", {**criterion, "code": "''"}, no=False),
        insert("ck_cell_criteria_name_zh_not_empty", "cell_criteria", {**criterion, "name_zh": "''"}, no=False),
        insert("ck_cell_criteria_name_en_not_empty", "cell_criteria", {**criterion, "name_en": "''"}, no=False),
        # api_tokens
        update("ck_api_tokens_token_hash_format", "api_tokens", "token_hash = 'abc'", token, token=ids["token"]),
        update("ck_api_tokens_token_hash_format", "api_tokens", "token_hash = upper(token_hash)", token,
               token=ids["token"]),
        update("ck_api_tokens_prefix_format", "api_tokens", "prefix = 'abc_12345678'", token, token=ids["token"]),
        update("ck_api_tokens_name_not_empty", "api_tokens", "name = ''", token, token=ids["token"]),
        copy("uq_api_tokens_token_hash", "api_tokens", token, token=ids["token"]),
        # outbox_events
        update("ck_outbox_events_event", "outbox_events", "event = 'cell.renamed'", "id = :event",
               event=ids["event"]),
        update("ck_outbox_events_entity", "outbox_events", "entity = 'town'", "id = :event", event=ids["event"]),
        # files
        update("ck_files_size_non_negative", "files", "size = -1", file, file=ids["file"]),
        update("ck_files_sha256_length", "files", "sha256 = 'abcdef'", file, file=ids["file"]),
        update("ck_files_sha256_hex", "files", "sha256 = upper(sha256)", file, file=ids["file"]),
        update("ck_files_media_type", "files", "media_type = 'text/plain'", file, file=ids["file"]),
        update("ck_files_filename_not_empty", "files", "filename = ''", file, file=ids["file"]),
        copy("ck_files_id_format", "files", file, {"id": "'NOT-A-UUID'"}, file=ids["file"]),
        copy("ck_files_id_format", "files", file, {"id": "upper(id)"}, file=ids["file"]),
        # idempotency_keys (a finished request)
        update("ck_idempotency_keys_state", "idempotency_keys", "state = 'lost'", key, **ids["key"]),
        copy("ck_idempotency_keys_key_not_empty", "idempotency_keys", key, {"key": "''"}, **ids["key"]),
        update("ck_idempotency_keys_request_hash_format", "idempotency_keys", "request_hash = 'abc'", key,
               **ids["key"]),
        update("ck_idempotency_keys_running_has_no_response", "idempotency_keys", "state = 'running'", key,
               **ids["key"]),
        update("ck_idempotency_keys_done_has_response", "idempotency_keys", "response_body = NULL", key,
               **ids["key"]),
        update("ck_idempotency_keys_response_status_range", "idempotency_keys", "response_status = 503", key,
               **ids["key"]),
        update("ck_idempotency_keys_kept_24_hours", "idempotency_keys", "expires_at = created_at", key, **ids["key"]),
        # rate_limit_counters
        update("ck_rate_limit_counters_hits_not_negative", "rate_limit_counters", "hits = -1",
               one_row("rate_limit_counters")),
        copy("ck_rate_limit_counters_key_not_empty", "rate_limit_counters", one_row("rate_limit_counters"),
             {"key": "''"}),
        # indicators
        update("ck_indicators_latest_version_positive", "indicators", "latest_version = 0", "id = :indicator",
               indicator=ids["indicator"]),
        insert("ck_indicators_code_format", "indicators",
               {"code": "'-1.1'", "latest_version": "1", "created_at": "CURRENT_TIMESTAMP"}),
        insert("ck_indicators_code_format", "indicators",
               {"code": "'1 1'", "latest_version": "1", "created_at": "CURRENT_TIMESTAMP"}),
        # checked at commit (deferred): the latest version exists
        update("fk_indicators_id_indicator_versions", "indicators", "latest_version = 2", "id = :indicator",
               indicator=ids["indicator"]),
        insert("fk_indicators_id_indicator_versions", "indicators",
               {"code": "'9.9.99'", "latest_version": "1", "created_at": "CURRENT_TIMESTAMP"}),
        insert("uq_indicators_code", "indicators",
               {"code": "'1.1.03'", "latest_version": "1", "created_at": "CURRENT_TIMESTAMP"}),
        # indicator_versions (append-only: new rows only)
        *[copy(name, "indicator_versions", version, {"version": "99", **changes}, version=ids["version"])
          for name, changes in (
              ("ck_indicator_versions_version_positive", {"version": "0"}),
              ("ck_indicator_versions_category", {"category": "'other'"}),
              ("ck_indicator_versions_kind", {"kind": "'core'"}),
              ("ck_indicator_versions_value_type", {"value_type": "'text'"}),
              ("ck_indicator_versions_direction", {"direction": "'sideways'"}),
              ("ck_indicator_versions_frequency", {"frequency": "'weekly'"}),
              ("ck_indicator_versions_source", {"source": "'registry'"}),
              ("ck_indicator_versions_weight_positive", {"weight": "0"}),
              ("ck_indicator_versions_baseline_complete", {"baseline_value": "NULL"}),
              ("ck_indicator_versions_target_complete", {"target_year": "NULL"}),
              ("ck_indicator_versions_boolean_direction", {"direction": "'boolean'"}),
              ("ck_indicator_versions_boolean_direction", {"value_type": "'boolean'"}),
              ("ck_indicator_versions_baseline_before_target", {"baseline_year": "2025"}),
              ("ck_indicator_versions_bounds_ordered",
               {"min_value": "10", "max_value": "5", "baseline_year": "NULL", "baseline_value": "NULL"}),
              ("ck_indicator_versions_no_bounds_for_booleans",
               {"value_type": "'boolean'", "direction": "'boolean'", "baseline_year": "NULL",
                "baseline_value": "NULL"}),
              ("ck_indicator_versions_no_bounds_for_booleans",
               {"value_type": "'boolean'", "direction": "'boolean'", "baseline_year": "NULL",
                "baseline_value": "NULL", "min_value": "NULL", "max_value": "1"}),
              ("ck_indicator_versions_baseline_within_bounds", {"max_value": "5"}),  # the baseline is 9
              ("ck_indicator_versions_baseline_within_bounds", {"min_value": "10"}),
              ("ck_indicator_versions_labels_only_for_rates", {"numerator_label": "'企业数'"}),
              ("ck_indicator_versions_cells_source_count", {"source": "'cells'", "value_type": "'quantity'"}),
              ("ck_indicator_versions_name_zh_not_empty", {"name_zh": "''"}),
              ("ck_indicator_versions_name_en_not_empty", {"name_en": "''"}),
              ("ck_indicator_versions_group_name_not_empty", {"group_name": "''"}),
              ("ck_indicator_versions_unit_not_empty", {"unit": "''"}),
              ("ck_indicator_versions_catalogue_digest_format", {"catalogue_digest": "'abc'"}),
          )],
        copy("uq_indicator_versions_indicator_id_version", "indicator_versions", version, version=ids["version"]),
        # indicator_milestones
        update("ck_indicator_milestones_year_range", "indicator_milestones", "year = 1999",
               one_row("indicator_milestones")),
        update("ck_indicator_milestones_year_range", "indicator_milestones", "year = 2101",
               one_row("indicator_milestones")),
        # indicator_cooperators
        update("ck_indicator_cooperators_position_non_negative", "indicator_cooperators", "position = -1",
               "version_id = :version", version=ids["version"]),
        copy("uq_indicator_cooperators_version_id_position", "indicator_cooperators", "version_id = :version",
             {"department": "'zzwf'"}, version=ids["version"]),
        # submissions: `sub` is approved (35 of 40 → 87.5), `draft` a draft (3 of 4 → 75)
        update("ck_submissions_status", "submissions", "status = 'archived'", draft, **base),
        update("ck_submissions_version_positive", "submissions", "version = 0", sub, **base),
        update("ck_submissions_indicator_version_positive", "submissions", "indicator_version = 0", sub, **base),
        update("ck_submissions_period_order", "submissions", "period_end = period_start", sub, **base),
        update("ck_submissions_period_format", "submissions", "period = '2024Q5'", sub, **base),
        update("ck_submissions_period_format", "submissions", "period = '2024-13'", sub, **base),
        update("ck_submissions_period_format", "submissions", "period = '24'", sub, **base),
        update("ck_submissions_approved_has_time", "submissions", "approved_at = NULL", sub, **base),
        update("ck_submissions_approved_time_only_when_approved", "submissions", "status = 'submitted'", sub,
               **base),
        update("ck_submissions_draft_not_submitted", "submissions", "status = 'draft', approved_at = NULL", sub,
               **base),
        update("ck_submissions_returned_has_reason", "submissions",
               "status = 'returned', approved_at = NULL, reviewer_note = NULL", sub, **base),
        update("ck_submissions_returned_has_reason", "submissions",
               "status = 'returned', approved_at = NULL, reviewer_note = '  '", sub, **base),
        update("ck_submissions_submitted_has_value", "submissions",
               "value = NULL, numerator = NULL, denominator = NULL", sub, **base),
        update("ck_submissions_numerator_denominator_pair", "submissions", "denominator = NULL", sub, **base),
        update("ck_submissions_numerator_denominator_pair", "submissions", "numerator = NULL", sub, **base),
        update("ck_submissions_numerator_non_negative", "submissions", "numerator = -1", sub, **base),
        update("ck_submissions_denominator_nonzero", "submissions", "denominator = 0", sub, **base),
        update("ck_submissions_denominator_non_negative", "submissions", "denominator = -40", sub, **base),
        update("ck_submissions_rate_has_value", "submissions", "value = NULL", draft, **base),
        copy("uq_submissions_indicator_period", "submissions", sub, **base),
        # submission_revisions (append-only: new rows only)
        *[copy(name, "submission_revisions", revision, {"revision": "99", **changes}, **base)
          for name, changes in (
              ("ck_submission_revisions_revision_positive", {"revision": "0"}),
              ("ck_submission_revisions_action", {"action": "'deleted'"}),
              ("ck_submission_revisions_status", {"action": "'edited'", "status": "'archived'"}),
              ("ck_submission_revisions_action_status", {"status": "'submitted'"}),
              ("ck_submission_revisions_action_status", {"action": "'edited'", "status": "'approved'"}),
              ("ck_submission_revisions_action_status", {"action": "'reopened'", "status": "'approved'",
                                                         "reason": "'重新打开'"}),
              ("ck_submission_revisions_reason_only_when_returned", {"reason": "'为什么'"}),
              ("ck_submission_revisions_reason_only_when_returned", {"action": "'returned'", "status": "'returned'"}),
              ("ck_submission_revisions_reason_only_when_returned", {"action": "'returned'", "status": "'returned'",
                                                                     "reason": "' '"}),
              ("ck_submission_revisions_period_format", {"period": "'2024Q0'"}),
              ("ck_submission_revisions_numerator_denominator_pair", {"denominator": "NULL"}),
              ("ck_submission_revisions_numerator_non_negative", {"numerator": "-1"}),
              ("ck_submission_revisions_denominator_nonzero", {"denominator": "0"}),
              ("ck_submission_revisions_denominator_non_negative", {"denominator": "-4"}),
              ("ck_submission_revisions_rate_has_value", {"value": "NULL"}),
              ("ck_submission_revisions_submitted_has_value", {"action": "'submitted'", "status": "'submitted'",
                                                               "value": "NULL", "numerator": "NULL",
                                                               "denominator": "NULL"}),
          )],
        copy("uq_submission_revisions_submission_id_revision", "submission_revisions", revision, **base),
        # cells: `cell` is certified, `planned` one the plan names
        update("ck_cells_status", "cells", "status = 'closed'", planned, **base),
        update("ck_cells_latitude_range", "cells", "latitude = 90.5", planned, **base),
        update("ck_cells_longitude_range", "cells", "longitude = -180.5", planned, **base),
        update("ck_cells_version_positive", "cells", "version = 0", planned, **base),
        update("ck_cells_name_not_blank", "cells", "name = '   '", planned, **base),
        update("ck_cells_certificate_complete", "cells", "valid_until = NULL", cell, **base),
        update("ck_cells_certificate_complete", "cells", "certified_at = NULL", cell, **base),
        update("ck_cells_certified_has_certificate", "cells", "status = 'certified'", planned, **base),
        update("ck_cells_uncertified_has_no_certificate", "cells", "status = 'applied'", cell, **base),
        update("uq_cells_certificate_no", "cells",
               "status = 'evaluated', certificate_no = :number, certified_at = CURRENT_TIMESTAMP, "
               "valid_until = CURRENT_DATE", planned, number=ids["number"], **base),
        # checked at commit (deferred): a number that was never issued
        update("fk_cells_certificate_no_certificates", "cells",
               "status = 'evaluated', certificate_no = 'XM-WF-2026-SCH-9999', certified_at = CURRENT_TIMESTAMP, "
               "valid_until = CURRENT_DATE", planned, **base),
        # cell_evaluations, certificates, counters, inspections, quotas, files
        update("ck_cell_evaluations_total_non_negative", "cell_evaluations", "total = -1", evaluation,
               evaluation=ids["evaluation"]),
        update("ck_cell_evaluations_evaluator_not_blank", "cell_evaluations", "evaluator = ' '", evaluation,
               evaluation=ids["evaluation"]),
        update("ck_cell_evaluations_items_non_empty", "cell_evaluations", "items = '[]'", evaluation,
               evaluation=ids["evaluation"]),
        update("ck_cell_evaluations_items_non_empty", "cell_evaluations", "items = '{}'", evaluation,
               evaluation=ids["evaluation"]),
        copy("ck_certificates_certificate_no_not_empty", "certificates", certificate, {"certificate_no": "''"},
             number=ids["number"]),
        update("ck_certificates_revocation_complete", "certificates", "revoked_at = CURRENT_TIMESTAMP", certificate,
               number=ids["number"]),
        update("ck_certificates_revocation_complete", "certificates", "revoke_reason = '撤销'", certificate,
               number=ids["number"]),
        update("ck_certificates_revoke_reason_not_blank", "certificates",
               "revoked_at = CURRENT_TIMESTAMP, revoke_reason = ' '", certificate, number=ids["number"]),
        update("ck_certificate_counters_last_non_negative", "certificate_counters", "last = -1", "type = 'school'"),
        update("ck_cell_inspections_latitude_range", "cell_inspections", "latitude = -91", inspection,
               inspection=ids["inspection"]),
        update("ck_cell_inspections_longitude_range", "cell_inspections", "longitude = 181", inspection,
               inspection=ids["inspection"]),
        update("ck_cell_inspections_score_range", "cell_inspections", "score = 110.5", inspection,
               inspection=ids["inspection"]),
        update("ck_cell_inspections_score_range", "cell_inspections", "score = -1", inspection,
               inspection=ids["inspection"]),
        update("ck_cell_inspections_inspector_not_blank", "cell_inspections", "inspector = ' '", inspection,
               inspection=ids["inspection"]),
        update("ck_cell_inspections_findings_not_empty", "cell_inspections", "findings = ''", inspection,
               inspection=ids["inspection"]),
        update("ck_cell_quotas_quota_non_negative", "cell_quotas", "quota = -1", "type = 'school'"),
        update("ck_cell_quota_changes_quota_non_negative", "cell_quota_changes", "quota = -1", "type = 'school'"),
        update("ck_cell_files_role", "cell_files", "role = 'cover'", "cell_id = :cell", **base),
        # webhooks
        update("ck_webhooks_url_length", "webhooks", "url = 'http://'", hook, hook=ids["hook"]),
        update("ck_webhooks_url_scheme", "webhooks", "url = 'ftp://example.com/hook'", hook, hook=ids["hook"]),
        update("ck_webhooks_secret_length", "webhooks", "secret = 'too short'", hook, hook=ids["hook"]),
        update("ck_webhooks_after_event_id_non_negative", "webhooks", "after_event_id = -1", hook, hook=ids["hook"]),
        update("ck_webhooks_deleted_after_created", "webhooks", "deleted_at = '2000-01-01 00:00:00'", hook,
               hook=ids["hook"]),
        update("ck_webhooks_events_non_empty", "webhooks", "events = '[]'", hook, hook=ids["hook"]),
        update("ck_webhooks_events_non_empty", "webhooks", "events = '\"cell.applied\"'", hook, hook=ids["hook"]),
        # webhook_deliveries: pending after one failed attempt (HTTP 500)
        update("ck_webhook_deliveries_status", "webhook_deliveries", "status = 'lost', next_attempt_at = NULL",
               delivery, delivery=ids["delivery"]),
        update("ck_webhook_deliveries_attempts_non_negative", "webhook_deliveries", "attempts = -1", delivery,
               delivery=ids["delivery"]),
        update("ck_webhook_deliveries_pending_has_next_attempt", "webhook_deliveries", "next_attempt_at = NULL",
               delivery, delivery=ids["delivery"]),
        update("ck_webhook_deliveries_pending_has_next_attempt", "webhook_deliveries", "status = 'failed'",
               delivery, delivery=ids["delivery"]),
        update("ck_webhook_deliveries_delivered_has_delivered_at", "webhook_deliveries",
               "status = 'failed', next_attempt_at = NULL, delivered_at = CURRENT_TIMESTAMP", delivery,
               delivery=ids["delivery"]),
        update("ck_webhook_deliveries_delivered_after_an_attempt", "webhook_deliveries",
               "status = 'delivered', next_attempt_at = NULL, delivered_at = CURRENT_TIMESTAMP, attempts = 0, "
               "last_status_code = 204, last_error = NULL", delivery, delivery=ids["delivery"]),
        update("ck_webhook_deliveries_delivered_with_success", "webhook_deliveries",
               "status = 'delivered', next_attempt_at = NULL, delivered_at = CURRENT_TIMESTAMP", delivery,
               delivery=ids["delivery"]),
        update("ck_webhook_deliveries_delivered_with_success", "webhook_deliveries",
               "status = 'delivered', next_attempt_at = NULL, delivered_at = CURRENT_TIMESTAMP, "
               "last_status_code = 204", delivery, delivery=ids["delivery"]),
        update("ck_webhook_deliveries_last_status_code_range", "webhook_deliveries", "last_status_code = 600",
               delivery, delivery=ids["delivery"]),
        update("ck_webhook_deliveries_lease_only_while_pending", "webhook_deliveries",
               "status = 'failed', next_attempt_at = NULL, locked_until = CURRENT_TIMESTAMP", delivery,
               delivery=ids["delivery"]),
        copy("uq_webhook_deliveries_webhook_id_event_id", "webhook_deliveries", delivery, delivery=ids["delivery"]),
        # webhook_attempts: the failed attempt (HTTP 500)
        update("ck_webhook_attempts_attempt_positive", "webhook_attempts", "attempt = 0", attempt,
               attempt=ids["attempt"]),
        update("ck_webhook_attempts_duration_non_negative", "webhook_attempts", "duration_ms = -1", attempt,
               attempt=ids["attempt"]),
        update("ck_webhook_attempts_status_code_range", "webhook_attempts", "status_code = 99", attempt,
               attempt=ids["attempt"]),
        update("ck_webhook_attempts_status_code_or_error", "webhook_attempts", "status_code = NULL, error = NULL",
               attempt, attempt=ids["attempt"]),
        update("ck_webhook_attempts_error_unless_success", "webhook_attempts", "status_code = 204", attempt,
               attempt=ids["attempt"]),
        update("ck_webhook_attempts_error_unless_success", "webhook_attempts", "error = NULL", attempt,
               attempt=ids["attempt"]),
        copy("uq_webhook_attempts_delivery_id_attempt", "webhook_attempts", attempt, attempt=ids["attempt"]),
        # webhook_dispatch_cursor
        insert("ck_webhook_dispatch_cursor_single_row", "webhook_dispatch_cursor", {"id": "2", "last_event_id": "0"}),
        update("ck_webhook_dispatch_cursor_last_event_id_non_negative", "webhook_dispatch_cursor",
               "last_event_id = -1", "id = 1"),
    ]


def _bad_reference(table: str, column: str) -> str:
    column_type = _table(table).columns[column].type
    return "-1" if isinstance(column_type, Integer | BigInteger) else "'zzmissing'"


def generated_cases() -> list[Case]:
    """Per table: a duplicate primary key, a missing reference for each foreign key, NULL in each NOT NULL
    column, and UPDATE and DELETE on the append-only tables."""
    cases: list[Case] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        name, where = table.name, one_row(table.name)
        cases.append(copy(f"pk_{name}", name, where, OTHER_KEYS_FRESH.get(name), keep_key=True))
        for constraint in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            assert constraint.name in FOREIGN_KEYS, constraint.name
            if len(constraint.columns) > 1:
                continue  # the two composite, deferred ones (cells, indicators): by hand, above
            column = constraint.columns[0].name
            bad = _bad_reference(name, column)
            if name in APPEND_ONLY:
                cases.append(copy(str(constraint.name), name, where, {**FRESH.get(name, {}), column: bad}))
            else:
                cases.append(update(str(constraint.name), name, f"{_q(column)} = {bad}", where))
        for column in table.columns:
            if column.nullable or (column.primary_key and len(table.primary_key.columns) == 1
                                   and isinstance(column.type, Integer)):
                continue  # a single integer key: SQLite's rowid, never NULL
            if name in APPEND_ONLY:
                cases.append(copy(f"not_null {name}.{column.name}", name, where,
                                  {**FRESH.get(name, {}), column.name: "NULL"}, column=column.name))
            else:
                cases.append(Case(f"not_null {name}.{column.name}", name,
                                  f"UPDATE {name} SET {_q(column.name)} = NULL WHERE {where}", where=where,
                                  column=column.name))
        if name in APPEND_ONLY:
            some_column = _q(next(iter(c.name for c in table.columns if not c.primary_key)))
            cases.append(Case(f"{name}_append_only", name, f"UPDATE {name} SET {some_column} = {some_column} "
                                                           f"WHERE {where}", where=where))
            cases.append(Case(f"{name}_append_only", name, f"DELETE FROM {name} WHERE {where}", where=where))
    return cases


def model_constraints(backend: str) -> dict[str, str]:
    """Every named CHECK, UNIQUE and FOREIGN KEY constraint the models declare for ``backend``, by table."""
    found: dict[str, str] = {}
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                condition = constraint._ddl_if
                if condition is not None and condition.dialect not in (None, backend):
                    continue
            elif not isinstance(constraint, UniqueConstraint | ForeignKeyConstraint):
                continue
            found[str(constraint.name)] = table.name
    return found


# ---------------------------------------------------------------------------------------- the data


SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PASSING = [{"criterion": "organization", "points": 15}, {"criterion": "source_reduction", "points": 20},
           {"criterion": "sorting", "points": 20}, {"criterion": "utilization", "points": 15},
           {"criterion": "education", "points": 5}, {"criterion": "highlights", "points": 5}]


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def fill(app: Any, client: httpx.AsyncClient) -> dict[str, Any]:
    """Rows in every table, written by the application itself; answers the ids the cases name."""
    sthj = await make_token(app, "sthj", ["submissions:write"], name="sthj writer")
    lead = await make_token(app, "lead", ["submissions:review"], name="lead reviewer")
    jyj = await make_token(app, "jyj", ["cells:write"], name="jyj")
    cells_reviewer = await make_token(app, "sthj", ["cells:review"], name="sthj cells reviewer")
    zzwf = await make_token(app, "zzwf", ["aggregates:read"], name="zzwf")
    hook = await _created(await client.post("/v1/webhooks", headers=bearer(zzwf), json={
        "url": "https://zzwf.example.cn/hooks/xinmi", "events": ["submission.approved", "cell.certified"]}))

    evidence = await _created(await client.post("/v1/files", headers=bearer(sthj),
                                                files={"file": ("证明.pdf", PDF, "application/pdf")}))
    sub = await _created(await client.post("/v1/submissions", headers=bearer(sthj), json={
        "indicator": "1.1.02", "period": "2024", "numerator": 35, "denominator": 40, "evidence": [evidence["id"]]}))
    await _created(await client.post(f"/v1/submissions/{sub['id']}/submit", headers=bearer(sthj)))
    await _created(await client.post(f"/v1/submissions/{sub['id']}/approve", headers=bearer(lead)))
    draft = await _created(await client.post("/v1/submissions", headers=bearer(sthj), json={
        "indicator": "1.1.02", "period": "2023", "numerator": 3, "denominator": 4}))

    photo = await _created(await client.post("/v1/files", headers=bearer(jyj),
                                             files={"file": ("照片.pdf", PDF + b"%photo\n", "application/pdf")}))
    cells = []
    for number, name in enumerate(("新密市第一高级中学", "新密市实验小学")):
        cells.append(await _created(await client.post(
            "/v1/cells", headers=bearer(jyj, **{"Idempotency-Key": f"apply-{number}"}),
            json={"type": "school", "name": name, "town": "qingpingjie", "evidence": [photo["id"]]})))
    inspection = await _created(await client.post(f"/v1/cells/{cells[0]['id']}/inspections", headers=bearer(jyj), json={
        "inspected_at": "2026-05-01T09:30:00+08:00", "inspector": "赵巡查", "findings": "分类桶满溢", "score": 85.5,
        "latitude": 34.5, "longitude": 113.4, "photos": [photo["id"]]}))
    today = datetime.now(SHANGHAI).date()
    evaluation: dict[str, Any] = {}
    for cell in cells:
        evaluation = await _created(await client.post(f"/v1/cells/{cell['id']}/evaluations",
                                                      headers=bearer(cells_reviewer),
                                                      json={"date": today.isoformat(), "evaluator": "王评审",
                                                            "items": PASSING}))
        cell.update(await _created(await client.post(f"/v1/cells/{cell['id']}/certify",
                                                     headers=bearer(cells_reviewer))))
    await _created(await client.put(f"/v1/cell-quotas/{today.year}/school", headers=bearer(cells_reviewer),
                                    json={"quota": 3}))

    # Deliver the events to the webhook once: the receiver answers 500, so each delivery stays pending.
    assert await fan_out(app.state.database) > 0
    failing = httpx.AsyncClient(transport=httpx.MockTransport(lambda _request: httpx.Response(500)))
    async with failing:
        assert await run_once(app.state.database, app.state.settings, client=failing) > 0

    if app.state.rate_limiter.backend == "MemoryStorage":
        # The embedded default counts requests in memory; the table (unused there) still keeps its rules.
        await sql_write(app, "INSERT INTO rate_limit_counters (key, hits, expires_at) VALUES ('token:1', 1, 0)")
    planned = await sql(app, "SELECT min(id) FROM cells WHERE status = 'planned'")
    version = await sql(app, "SELECT v.id FROM indicator_versions v JOIN indicators i ON i.id = v.indicator_id "
                             "WHERE i.code = '1.1.03' AND v.version = 1")
    delivery = await sql(app, "SELECT min(id) FROM webhook_deliveries WHERE webhook_id = :hook", hook=hook["id"])
    attempt = await sql(app, "SELECT min(id) FROM webhook_attempts WHERE delivery_id = :d", d=delivery[0][0])
    key = await sql(app, "SELECT token_id, key FROM idempotency_keys WHERE state = 'done' ORDER BY key LIMIT 1")
    return {
        "token": (await sql(app, "SELECT min(id) FROM api_tokens"))[0][0],
        "event": (await sql(app, "SELECT min(id) FROM outbox_events"))[0][0],
        "file": evidence["id"],
        "key": {"idem_token": key[0][0], "idem_key": key[0][1]},
        "indicator": (await sql(app, "SELECT id FROM indicators WHERE code = '1.1.02'"))[0][0],
        "version": version[0][0],
        "sub": sub["id"], "draft": draft["id"],
        "cell": cells[0]["id"], "number": cells[0]["certificate_no"],
        "planned": planned[0][0],
        "evaluation": evaluation["id"], "inspection": inspection["id"],
        "hook": hook["id"], "delivery": delivery[0][0], "attempt": attempt[0][0],
    }


async def catalog(app: Any) -> dict[str, dict[str, set[str]]]:
    """The constraints the database reports, by table and kind."""

    def read(connection: Any) -> dict[str, dict[str, set[str]]]:
        inspector = inspect(connection)
        return {table: {
            "check": {c["name"] for c in inspector.get_check_constraints(table)},
            "unique": {c["name"] for c in inspector.get_unique_constraints(table)},
            "foreign_key": {c["name"] for c in inspector.get_foreign_keys(table)},
            "primary_key": {inspector.get_pk_constraint(table)["name"]},
            "not_null": {c["name"] for c in inspector.get_columns(table) if not c["nullable"]},
        } for table in inspector.get_table_names()}

    async with app.state.database.engine.connect() as connection:
        return await connection.run_sync(read)


async def snapshot(app: Any, case: Case) -> list[Any]:
    if case.where is None:
        return await sql(app, f"SELECT count(*) FROM {case.table}")
    return await sql(app, f"SELECT * FROM {case.table} WHERE {case.where}", **case.params)


# ------------------------------------------------------------------------------------------- tests


def test_the_outbox_check_lists_every_event() -> None:
    from app.events.models import OutboxEvent

    check = next(c for c in OutboxEvent.__table__.constraints  # type: ignore[attr-defined]
                 if isinstance(c, CheckConstraint) and str(c.name).endswith("event"))
    assert str(check.sqltext) == "event IN (" + ", ".join(f"'{event}'" for event in EVENTS) + ")"


async def test_the_database_refuses_what_the_rules_forbid(app: Any, client: httpx.AsyncClient, backend: str,
                                                          subtests: pytest.Subtests) -> None:
    ids = await fill(app, client)
    cases = check_cases(ids) + generated_cases()
    named = {case.constraint for case in cases}
    found = await catalog(app)

    with subtests.test(msg="every table has rows to break"):
        empty = [t for t in metadata.tables if (await sql(app, f"SELECT count(*) FROM {t}"))[0][0] == 0]
        assert empty == []
    with subtests.test(msg="every constraint of the models has a case"):
        assert set(model_constraints(backend)) - named - set(IMPLIED) == set()
    for name in sorted(FOREIGN_KEYS):
        with subtests.test(msg=f"{name} has a case"):
            assert name in named
    for constraint, implied_by in sorted(IMPLIED.items()):
        with subtests.test(msg=f"catalog: {constraint}"):
            assert constraint in found[model_constraints(backend)[constraint]]["unique"]
            assert implied_by in named
    for name in sorted({(case.table, case.kind, case.column or case.constraint) for case in cases}):
        table, kind, constraint = name
        if kind == "trigger":
            continue
        with subtests.test(msg=f"catalog: {table} {kind} {constraint}"):
            assert constraint in found[table][kind]

    for case in cases:
        with subtests.test(msg=f"{case.constraint}: {case.write}"):
            before = await snapshot(app, case)
            assert before not in ([], [(0,)]), "nothing to break"
            with pytest.raises(DBAPIError) as refused:
                await sql_write(app, case.write, **case.params)
            if case.kind != "trigger":
                assert isinstance(refused.value, IntegrityError), refused.value
            assert case.expected(backend) in str(refused.value)
            assert await snapshot(app, case) == before
    # Untouched by it all: the data the application wrote is still there as written.
    assert (await sql(app, "SELECT status, value FROM submissions WHERE id = :id", id=ids["sub"])) == [("approved",
                                                                                                      87.5)]
    assert (await sql(app, "SELECT certificate_no FROM cells WHERE id = :id", id=ids["cell"])) == [(ids["number"],)]


async def test_a_key_claimed_in_the_last_half_millisecond_of_a_second_is_kept(app: Any) -> None:
    """Regression: SQLite's date functions round to the millisecond, so on SQLite the 24-hour CHECK compared
    `…:28.999600` (stored) with `…:29` (computed) and refused a key kept exactly 24 hours, about one claim
    in two thousand (a fuzz run's 409 `conflict`). Both sides are now compared as SQLite computes them."""
    await make_token(app, "cgj", ["submissions:write"])
    (token_id,) = [row[0] for row in await sql(app, "SELECT id FROM api_tokens WHERE department = 'cgj'")]

    async def claim(key: str, created: datetime, kept: timedelta) -> None:
        async with app.state.database.sessionmaker() as session, session.begin():
            session.add(IdempotencyKey(token_id=token_id, key=key, request_hash="0" * 64, state="running",
                                       lease_until=created + timedelta(minutes=1), created_at=created,
                                       expires_at=created + kept))

    for micro in (999_600, 999_999, 500_000, 0):
        await claim(f"edge-{micro}", datetime(2026, 11, 28, 21, 57, 28, micro, tzinfo=UTC), timedelta(hours=24))
    assert len(await sql(app, "SELECT key FROM idempotency_keys WHERE key LIKE 'edge-%'")) == 4
    # A key kept a moment less than 24 hours is still refused.
    short = claim("edge-short", datetime(2026, 11, 28, 21, 57, 28, 999_600, tzinfo=UTC),
                  timedelta(hours=24) - timedelta(milliseconds=2))
    with pytest.raises(IntegrityError):
        await short
