// The main flows of a reporting front end, written against types generated from openapi/openapi.json
// (openapi-typescript) with openapi-fetch's typed client, compiled under `tsc --strict` by
// scripts/test-clients. A breaking change to the API (a path, a field, a type, a status) breaks this build.

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "../generated/api";

export type Api = Client<paths>;
export type Indicator = components["schemas"]["IndicatorOut"];
export type Submission = components["schemas"]["SubmissionOut"];
export type Scores = components["schemas"]["ScoresOut"];
export type IndicatorScore = components["schemas"]["IndicatorScoreOut"];
export type Problem = components["schemas"]["Problem"];

/** Thrown for every problem+json answer (RFC 9457), with its stable `code`. */
export class ApiProblem extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(`${status} ${problem.code}: ${problem.detail}`);
  }
}

export function connect(baseUrl: string, token: string, language: "zh-CN" | "en" = "zh-CN"): Api {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}`, "Accept-Language": language },
  });
}

function orThrow<T>(result: { data?: T; error?: Problem; response: Response }): T {
  if (result.data === undefined) {
    throw new ApiProblem(result.response.status, result.error as Problem);
  }
  return result.data;
}

/** Every indicator a department leads or cooperates on, following `next_cursor` to the end. */
export async function indicatorsOf(api: Api, department: string): Promise<Indicator[]> {
  const all: Indicator[] = [];
  let cursor: string | null = null;
  do {
    const page: components["schemas"]["Page_IndicatorOut_"] = orThrow(
      await api.GET("/v1/indicators", {
        params: { query: { department, limit: 500, ...(cursor === null ? {} : { cursor }) } },
      }),
    );
    all.push(...page.items);
    cursor = page.next_cursor ?? null;
  } while (cursor !== null);
  return all;
}

/** The reporting form's "save and submit" for a rate: create the draft (retried safely with the same
 *  Idempotency-Key), then submit it for review. */
export async function reportRate(
  api: Api,
  indicator: Indicator,
  period: string,
  numerator: number,
  denominator: number,
  idempotencyKey: string,
): Promise<Submission> {
  if (indicator.value_type !== "percent") {
    throw new Error(`${indicator.code} is not a rate`);
  }
  const draft = orThrow(
    await api.POST("/v1/submissions", {
      params: { header: { "idempotency-key": idempotencyKey } },
      body: { indicator: indicator.code, period, numerator, denominator, note: null },
    }),
  );
  const submitted = orThrow(
    await api.POST("/v1/submissions/{submission_id}/submit", {
      params: { path: { submission_id: draft.id } },
    }),
  );
  const status: "submitted" = submitted.status === "submitted" ? "submitted" : unexpected(submitted.status);
  return { ...submitted, status };
}

/** The dashboard: the overall score and the indicators behind their expected progress. */
export async function dashboard(
  api: Api,
  period: string,
): Promise<{ overall: number | null; coverage: number; behind: IndicatorScore[] }> {
  const scores: Scores = orThrow(await api.GET("/v1/scores", { params: { query: { period } } }));
  return {
    overall: scores.overall.score,
    coverage: scores.overall.coverage,
    behind: scores.indicators.filter((row) => row.status === "behind"),
  };
}

function unexpected(value: never | string): never {
  throw new Error(`unexpected ${String(value)}`);
}
