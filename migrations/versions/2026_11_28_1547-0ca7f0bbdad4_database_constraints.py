"""Database constraints: every rule of the services that a constraint can state (docs/decisions/0015)

Revision ID: 0ca7f0bbdad4
Revises: dcf668b4df59
Create Date: 2026-11-28 15:47:56.572614
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic import op
from sqlalchemy import event

revision: str = '0ca7f0bbdad4'
down_revision: str | Sequence[str] | None = 'dcf668b4df59'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A check is (name, SQL), or (name, {dialect: SQL}) where the databases need different SQL (regular
# expressions and JSONB on PostgreSQL, GLOB and JSON functions on SQLite).
Check = tuple[str, str | dict[str, str]]


def _hex(column: str, length: int | None = None) -> dict[str, str]:
    if length is None:
        return {"postgresql": f"{column} ~ '^[0-9a-f]*$'", "sqlite": f"{column} NOT GLOB '*[^0-9a-f]*'"}
    return {"postgresql": f"{column} ~ '^[0-9a-f]{{{length}}}$'",
            "sqlite": f"length({column}) = {length} AND {column} NOT GLOB '*[^0-9a-f]*'"}


PERIOD_FORMAT = {
    "postgresql": "period ~ '^[0-9]{4}(Q[1-4]|-(0[1-9]|1[0-2]))?$'",
    "sqlite": "(period GLOB '[0-9][0-9][0-9][0-9]' OR period GLOB '[0-9][0-9][0-9][0-9]Q[1-4]' "
              "OR period GLOB '[0-9][0-9][0-9][0-9]-0[1-9]' OR period GLOB '[0-9][0-9][0-9][0-9]-1[0-2]')",
}


def _rate_checks(table: str) -> list[Check]:
    return [
        (f"ck_{table}_period_format", PERIOD_FORMAT),
        (f"ck_{table}_numerator_denominator_pair", "(numerator IS NULL) = (denominator IS NULL)"),
        (f"ck_{table}_numerator_non_negative", "numerator IS NULL OR numerator >= 0"),
        (f"ck_{table}_denominator_non_negative", "denominator IS NULL OR denominator >= 0"),
        (f"ck_{table}_rate_has_value", "numerator IS NULL OR value IS NOT NULL"),
        (f"ck_{table}_submitted_has_value", "status NOT IN ('submitted', 'approved') OR value IS NOT NULL"),
    ]


EVENTS = ("submission.submitted", "submission.approved", "submission.returned", "submission.reopened",
          "indicator.revised", "cell.applied", "cell.evaluated", "cell.certified", "cell.revoked", "cell.expired",
          "cell.inspected")

# In the order they are added (certificates before cells: the unique constraint the foreign key needs).
CHECKS: dict[str, list[Check]] = {
    "departments": [
        ("ck_departments_code_format", {"postgresql": "code ~ '^[a-z][a-z0-9]*$'",
                                        "sqlite": "code GLOB '[a-z]*' AND code NOT GLOB '*[^a-z0-9]*'"}),
        ("ck_departments_name_zh_not_empty", "name_zh <> ''"),
        ("ck_departments_name_en_not_empty", "name_en <> ''"),
    ],
    "api_tokens": [
        ("ck_api_tokens_token_hash_format", _hex("token_hash", 64)),
        ("ck_api_tokens_prefix_format", "substr(prefix, 1, 4) = 'zwc_'"),
        ("ck_api_tokens_name_not_empty", "name <> ''"),
    ],
    "outbox_events": [
        ("ck_outbox_events_event", "event IN ({})".format(", ".join(f"'{e}'" for e in EVENTS))),
        ("ck_outbox_events_entity", "entity IN ('submission', 'indicator', 'cell')"),
    ],
    "files": [
        ("ck_files_sha256_hex", _hex("sha256")),
        ("ck_files_id_format", _hex("id", 32)),
        ("ck_files_filename_not_empty", "filename <> ''"),
    ],
    "idempotency_keys": [
        ("ck_idempotency_keys_key_not_empty", "key <> ''"),
        ("ck_idempotency_keys_request_hash_format", _hex("request_hash", 64)),
        ("ck_idempotency_keys_running_has_no_response",
         "state <> 'running' OR (response_status IS NULL AND response_headers IS NULL AND response_body IS NULL)"),
        ("ck_idempotency_keys_done_has_response",
         "state <> 'done' OR (response_status IS NOT NULL AND response_headers IS NOT NULL "
         "AND response_body IS NOT NULL)"),
        ("ck_idempotency_keys_response_status_range", "response_status IS NULL OR response_status BETWEEN 100 AND 499"),
        ("ck_idempotency_keys_kept_24_hours", {"postgresql": "expires_at >= created_at + interval '24 hours'",
                                               "sqlite": "expires_at >= datetime(created_at, '+24 hours')"}),
    ],
    "indicators": [
        ("ck_indicators_latest_version_positive", "latest_version >= 1"),
        ("ck_indicators_code_format", {
            "postgresql": "code ~ '^[0-9A-Za-z][0-9A-Za-z._-]*$'",
            "sqlite": "code GLOB '[0-9A-Za-z]*' AND code NOT GLOB '*[^0-9A-Za-z._-]*'"}),
    ],
    "indicator_versions": [
        ("ck_indicator_versions_boolean_direction", "(value_type = 'boolean') = (direction = 'boolean')"),
        ("ck_indicator_versions_baseline_before_target",
         "baseline_year IS NULL OR target_year IS NULL OR baseline_year < target_year"),
        ("ck_indicator_versions_labels_only_for_rates",
         "value_type IN ('percent', 'ratio') OR (COALESCE(numerator_label, '') = '' "
         "AND COALESCE(denominator_label, '') = '')"),
        ("ck_indicator_versions_cells_source_count", "source <> 'cells' OR value_type = 'count'"),
        ("ck_indicator_versions_name_zh_not_empty", "name_zh <> ''"),
        ("ck_indicator_versions_name_en_not_empty", "name_en <> ''"),
        ("ck_indicator_versions_group_name_not_empty", "group_name <> ''"),
        ("ck_indicator_versions_unit_not_empty", "unit <> ''"),
        ("ck_indicator_versions_catalogue_digest_format", _hex("catalogue_digest", 64)),
    ],
    "indicator_cooperators": [
        ("ck_indicator_cooperators_position_non_negative", "position >= 0"),
    ],
    "submissions": [
        ("ck_submissions_approved_time_only_when_approved", "status = 'approved' OR approved_at IS NULL"),
        ("ck_submissions_indicator_version_positive", "indicator_version >= 1"),
        ("ck_submissions_draft_not_submitted", "status <> 'draft' OR submitted_at IS NULL"),
        ("ck_submissions_returned_has_reason",
         "status <> 'returned' OR (reviewer_note IS NOT NULL AND trim(reviewer_note) <> '')"),
        *_rate_checks("submissions"),
    ],
    "submission_revisions": [
        ("ck_submission_revisions_revision_positive", "revision >= 1"),
        ("ck_submission_revisions_denominator_nonzero", "denominator IS NULL OR denominator <> 0"),
        ("ck_submission_revisions_action_status",
         "CASE action WHEN 'created' THEN status = 'draft' WHEN 'edited' THEN status NOT IN ('submitted', "
         "'approved') WHEN 'submitted' THEN status = 'submitted' WHEN 'approved' THEN status = 'approved' "
         "WHEN 'returned' THEN status = 'returned' WHEN 'reopened' THEN status = 'returned' ELSE TRUE END"),
        ("ck_submission_revisions_reason_only_when_returned",
         "(action IN ('returned', 'reopened') AND reason IS NOT NULL AND trim(reason) <> '') "
         "OR (action NOT IN ('returned', 'reopened') AND reason IS NULL)"),
        *_rate_checks("submission_revisions"),
    ],
    "towns": [
        ("ck_towns_code_not_empty", "code <> ''"),
        ("ck_towns_name_zh_not_empty", "name_zh <> ''"),
    ],
    "cell_types": [
        ("ck_cell_types_code_not_empty", "code <> ''"),
        ("ck_cell_types_name_zh_not_empty", "name_zh <> ''"),
        ("ck_cell_types_name_en_not_empty", "name_en <> ''"),
    ],
    "cell_criteria": [
        ("ck_cell_criteria_code_not_empty", "code <> ''"),
        ("ck_cell_criteria_name_zh_not_empty", "name_zh <> ''"),
        ("ck_cell_criteria_name_en_not_empty", "name_en <> ''"),
    ],
    "certificates": [
        ("ck_certificates_certificate_no_not_empty", "certificate_no <> ''"),
        ("ck_certificates_revocation_complete", "(revoked_at IS NULL) = (revoke_reason IS NULL)"),
        ("ck_certificates_revoke_reason_not_blank", "revoke_reason IS NULL OR trim(revoke_reason) <> ''"),
    ],
    "cells": [
        ("ck_cells_name_not_blank", "trim(name) <> ''"),
        ("ck_cells_certificate_complete",
         "(certificate_no IS NULL) = (certified_at IS NULL) AND (certificate_no IS NULL) = (valid_until IS NULL)"),
        ("ck_cells_certified_has_certificate",
         "status NOT IN ('certified', 'expired', 'revoked') OR certificate_no IS NOT NULL"),
        ("ck_cells_uncertified_has_no_certificate", "status NOT IN ('planned', 'applied') OR certificate_no IS NULL"),
    ],
    "cell_evaluations": [
        ("ck_cell_evaluations_evaluator_not_blank", "trim(evaluator) <> ''"),
        ("ck_cell_evaluations_items_non_empty", {
            "postgresql": "jsonb_typeof(items) = 'array' AND jsonb_array_length(items) > 0",
            "sqlite": "json_type(items) = 'array' AND json_array_length(items) > 0"}),
    ],
    "cell_inspections": [
        ("ck_cell_inspections_score_range", "score IS NULL OR score BETWEEN 0 AND 110"),
        ("ck_cell_inspections_inspector_not_blank", "trim(inspector) <> ''"),
        ("ck_cell_inspections_findings_not_empty", "findings <> ''"),
    ],
    "webhook_deliveries": [
        ("ck_webhook_deliveries_delivered_with_success",
         "status <> 'delivered' OR (last_status_code BETWEEN 200 AND 299 AND last_error IS NULL)"),
        ("ck_webhook_deliveries_lease_only_while_pending", "status = 'pending' OR locked_until IS NULL"),
    ],
    "webhook_attempts": [
        ("ck_webhook_attempts_error_unless_success",
         "status_code IS NULL OR (status_code BETWEEN 200 AND 299) = (error IS NULL)"),
    ],
}

UNIQUES: dict[str, list[tuple[str, list[str]]]] = {
    "indicator_cooperators": [("uq_indicator_cooperators_version_id_position", ["version_id", "position"])],
    "certificates": [("uq_certificates_certificate_no_cell_id", ["certificate_no", "cell_id"])],
    "cells": [("uq_cells_certificate_no", ["certificate_no"])],
}

# name, referred table, local columns, referred columns, checked at commit (certify updates the cell and inserts
# its certificate in one flush, in whichever order)
FOREIGN_KEYS: dict[str, list[tuple[str, str, list[str], list[str], bool]]] = {
    # A new indicator's row is inserted before its version 1: checked at commit too.
    "indicators": [("fk_indicators_id_indicator_versions", "indicator_versions", ["id", "latest_version"],
                    ["indicator_id", "version"], True)],
    "submission_revisions": [("fk_submission_revisions_indicator_indicators", "indicators", ["indicator"], ["code"],
                              False)],
    "cells": [("fk_cells_certificate_no_certificates", "certificates", ["certificate_no", "id"],
               ["certificate_no", "cell_id"], True)],
}

# SQLite rebuilds a table to change its constraints, and the rebuilt table has none of the old one's
# triggers: those that keep history append-only are made again (as the earlier revisions made them).
APPEND_ONLY_TABLES = ("indicator_versions", "submission_revisions")


def _sql(check: str | dict[str, str], dialect: str) -> str:
    return check if isinstance(check, str) else check[dialect]


def _refuse_changes(table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def _switch_sqlite_foreign_keys_off() -> None:
    """SQLite rebuilds a table to change its constraints: it copies the rows, drops the old table and renames
    the copy. Dropping a table that other rows refer to trips their foreign keys, so these are off meanwhile.
    SQLite switches them only between transactions: this revision's transaction (nothing written yet) is
    committed, the switch made, and a new one begun. ``_check_sqlite_foreign_keys`` checks every reference
    afterwards and has the keys switched back on when the revision (its version stamp included) commits."""
    raw = op.get_bind().connection.dbapi_connection
    assert raw is not None
    if raw.in_transaction:
        raw.execute("COMMIT")
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("BEGIN IMMEDIATE")


def _check_sqlite_foreign_keys() -> None:
    bind = op.get_bind()
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rows whose references do not hold: {broken[:10]}")

    def switch_on(connection: Any) -> None:
        raw = connection.connection.dbapi_connection
        raw.execute("COMMIT")  # the revision's work and its version stamp; the driver's commit finds none left
        raw.execute("PRAGMA foreign_keys=ON")

    event.listen(bind, "commit", switch_on, once=True)


def _add(table: str, dialect: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, check in CHECKS.get(table, []):
            batch_op.create_check_constraint(op.f(name), _sql(check, dialect))
        for name, columns in UNIQUES.get(table, []):
            batch_op.create_unique_constraint(op.f(name), columns)
        for name, referred, local, remote, deferred in FOREIGN_KEYS.get(table, []):
            batch_op.create_foreign_key(op.f(name), referred, local, remote,
                                        **({"deferrable": True, "initially": "DEFERRED"} if deferred else {}))


def _drop(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, _referred, _local, _remote, _deferred in reversed(FOREIGN_KEYS.get(table, [])):
            batch_op.drop_constraint(op.f(name), type_="foreignkey")
        for name, _columns in reversed(UNIQUES.get(table, [])):
            batch_op.drop_constraint(op.f(name), type_="unique")
        for name, _check in reversed(CHECKS.get(table, [])):
            batch_op.drop_constraint(op.f(name), type_="check")


def _tables() -> list[str]:
    return list(dict.fromkeys([*CHECKS, *UNIQUES, *FOREIGN_KEYS]))


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _switch_sqlite_foreign_keys_off()
    for table in _tables():
        _add(table, dialect)
        if dialect == "sqlite" and table in APPEND_ONLY_TABLES:
            _refuse_changes(table)
    if dialect == "sqlite":
        _check_sqlite_foreign_keys()


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        _switch_sqlite_foreign_keys_off()
    for table in reversed(_tables()):
        _drop(table)
        if dialect == "sqlite" and table in APPEND_ONLY_TABLES:
            _refuse_changes(table)
    if dialect == "sqlite":
        _check_sqlite_foreign_keys()
