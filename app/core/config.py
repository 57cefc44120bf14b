"""Settings from the environment (prefix ``ZWC_``) and an optional ``.env`` file.

Nothing reads the settings at import time: the application factory and the CLI call
:func:`get_settings` (or receive a :class:`Settings` explicitly, as the tests do).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///var/zwc.db"
# Far above any figure of a county or a city (Xinmi's landfill is some tens of 万吨 a year), far below the
# slips they catch: a figure typed in tonnes into a 万吨 field, or an exponent too many.
DEFAULT_UNIT_CEILINGS: dict[str, float] = {
    "万吨": 1e5, "吨": 1e9, "t": 1e9, "万元": 1e9, "t/万元": 1e3, "kg/亩": 1e4, "kg/人·日": 1e2, "个": 1e6,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZWC_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    database_read_url: str | None = None
    database_listen_url: str | None = Field(default=None, description="Where the read cache listens for data "
                                            "version notifications: PostgreSQL itself when ZWC_DATABASE_URL "
                                            "names PgBouncer in transaction pooling, which cannot keep a LISTEN "
                                            "(default: ZWC_DATABASE_URL).")
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    files_dir: Path = Path("var/files")
    cors_origins: Annotated[list[str], NoDecode] = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    max_json_bytes: int = Field(default=1024 * 1024, ge=1)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    webhook_allow_private: bool = Field(default=False, description="Accept webhook URLs on loopback, private "
                                        "and other non-public addresses (tests and closed networks only).")
    webhook_worker: bool = Field(default=False, description="Deliver webhooks in this process (the app's "
                                 "lifespan runs the delivery loop); `zwc serve` sets it unless --no-worker.")
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0, description="Delay after the first failed "
                                              "attempt; it doubles after each further failure.")
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=10, ge=1, le=100)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_lease_seconds: float = Field(default=60.0, gt=0, description="How long a claimed delivery stays "
                                         "taken; longer than the timeout, so that no two workers send it.")
    webhook_batch_size: int = Field(default=20, ge=1, le=500, description="Deliveries claimed per pass.")
    token_default_expiry_days: int = Field(default=365, ge=1)
    token_touch_interval_seconds: int = Field(default=60, ge=0)
    token_cache_seconds: float = Field(default=5.0, ge=0, le=300, description="A verified token is remembered this "
                                       "long per process (0: never). A revocation made through another process "
                                       "takes effect within it; through the same process, at once.")
    rate_limit: str = Field(default="1200/minute", description="Requests per token in `limits` notation "
                            "('1200/minute'; several separated by ';'); empty switches the limit off.")
    redis_url: str | None = Field(default=None, description="Keep rate-limit counters in this Redis "
                                  "(redis:// or rediss://) instead of the database.")
    redis_key_prefix: str = Field(default="zwc", min_length=1)
    gc_tuning: bool = Field(default=True, description="At start-up, make garbage collections rarer and freeze "
                            "what start-up created (app/core/runtime.py); false keeps CPython's defaults.")
    read_cache: bool = Field(default=True, description="Answer repeated reads of scores, indicators and "
                             "conditional aggregates from memory while the data version holds, as PostgreSQL "
                             "notifies it (app/readcache/); no effect on SQLite.")
    retry_after_seconds: int = Field(default=5, ge=1)
    outlier_threshold: float = Field(default=0.5, gt=0, description="A value further than this fraction from "
                                     "the previous approved one carries a warning and needs a note.")
    unit_ceilings: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_UNIT_CEILINGS), description="The largest plausible value per unit, for "
        "indicators without a max_value (JSON object, e.g. {\"万吨\": 100000}); it replaces the default table.")
    max_magnitude: float = Field(default=1e12, gt=0, le=1e15, description="The largest plausible numerator, "
                                 "denominator, or value in a unit without a ceiling.")
    submission_deadline_days: int = Field(default=30, ge=0, le=366, description="Days after a period's end "
                                          "within which its value counts as submitted on time (scorecards).")

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must be longer than webhook_timeout_seconds")
        return self

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        if value.strip():
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit in `limits` notation: {value!r}") from exc
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
