"""Documentation helpers: the problem schema and the error answers each route declares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where (错误位置): a body field path (e.g. `[\"items\", 0, \"value\"]`) "
                                             "or `[\"query\", name]`.")
    msg: str = Field(description="What is wrong, in the caller's language (错误说明).")
    type: str = Field(description="Stable machine-readable kind of error (错误类型), e.g. `out_of_range`.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["urn:zwc:problem:not_found"], description="`urn:zwc:problem:<code>` (问题类型).")
    title: str = Field(description="Short summary in the caller's language (标题).")
    status: int = Field(description="The HTTP status (状态码).")
    detail: str = Field(description="What happened, in the caller's language (详情).")
    code: str = Field(description="Stable machine-readable error code (错误码); see docs/ERRORS.md.")
    instance: str | None = Field(default=None, description="The request's path (请求路径).")
    request_id: str | None = Field(default=None, description="The `X-Request-ID` of the request (请求编号).")
    errors: list[ValidationIssue] | None = Field(default=None, description="For validation: each issue (校验错误).")
    existing_id: int | None = Field(default=None, description="With `submission_exists`: the id of the submission "
                                                              "already there (已存在的填报编号).")
    current_etag: str | None = Field(default=None, description="With `precondition_failed`: the current ETag "
                                                               "(当前 ETag).")


_DESCRIPTIONS = {
    400: "Malformed request (e.g. invalid JSON or cursor).",
    401: "Missing, malformed, unknown, expired or revoked token.",
    403: "The token lacks the scope, or the department the right, for this.",
    404: "Not found, or not visible to the caller.",
    405: "The path does not take this method (see `Allow`).",
    409: "Conflicts with the stored state.",
    412: "`If-Match` names an outdated ETag.",
    413: "Body larger than the configured limit.",
    415: "Body in a media type this endpoint does not take.",
    422: "Validation failed; see `errors`.",
    428: "`If-Match` is required.",
    429: "Over the token's request limit; retry after `Retry-After` seconds.",
    503: "Database unavailable; retry after `Retry-After` seconds.",
}

_ALWAYS = (400, 401, 413, 415, 422, 429, 503)


def problem_responses(*statuses: int, public: bool = False) -> dict[int | str, dict[str, Any]]:
    """The error answers of one route: ``statuses``, plus (for ``/v1`` routes) those every one can give."""
    chosen = set(statuses) | (set() if public else set(_ALWAYS))
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in sorted(chosen)
    }


def add_problem_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """Register the problem schemas that the error answers above refer to."""
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    return schema


def mark_binary_uploads(schema: dict[str, Any]) -> dict[str, Any]:
    """Uploaded file fields as `format: binary` besides OpenAPI 3.1's `contentMediaType`: client generators
    that only know the former (openapi-python-client, among others) otherwise send the file as text."""
    for component in schema.get("components", {}).get("schemas", {}).values():
        for field in component.get("properties", {}).values():
            if field.get("type") == "string" and field.get("contentMediaType") == "application/octet-stream":
                field.setdefault("format", "binary")
    return schema
