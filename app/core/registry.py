"""Imports every table module so that ``SQLModel.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from app.audit import models as audit_models
from app.auth import models as auth_models
from app.cells import models as cells_models
from app.core.models import SQLModel
from app.departments import models as departments_models
from app.events import models as events_models
from app.files import models as files_models
from app.idempotency import models as idempotency_models
from app.indicators import models as indicators_models
from app.ratelimit import models as ratelimit_models
from app.submissions import models as submissions_models
from app.webhooks import models as webhooks_models

metadata = SQLModel.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "cells_models",
    "departments_models",
    "events_models",
    "files_models",
    "idempotency_models",
    "indicators_models",
    "metadata",
    "ratelimit_models",
    "submissions_models",
    "webhooks_models",
]
