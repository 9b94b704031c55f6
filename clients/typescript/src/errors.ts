import type { components } from "./schema.js";

/** The body of every error the API answers: `{"error": {"code", "message", "details"}}`. */
export type ErrorBody = components["schemas"]["ErrorBody"];
export type ErrorDetails = components["schemas"]["ErrorDetail"]["details"];

/**
 * Every failed call throws this: the API's answer (`status` 400 to 599, with the `code`,
 * `message` and `details` of its `ErrorBody`), or, with `status` 0 and code `network_error`,
 * no answer at all after the client's retries.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    /** The HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** Stable and machine-readable, e.g. `validation_error`, `not_found`, `unauthorized`. */
    readonly code: string,
    /** For people; the wording may change. */
    message: string,
    /** Structured context; for `validation_error`, `details.fields` names each problem. */
    readonly details: ErrorDetails = {},
    /** Seconds the server asks to wait before trying again (`Retry-After`), if it said. */
    readonly retryAfter: number | null = null,
    /** The `X-Request-Id` of the answer, which finds the request in the server's logs. */
    readonly requestId: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The error a non-2xx `response` stands for, given its body as openapi-fetch parsed it. */
  static fromResponse(response: Response, body: unknown): ApiError {
    const retryAfter = retryAfterSeconds(response.headers.get("Retry-After"));
    const requestId = response.headers.get("X-Request-Id");
    const error = isErrorBody(body) ? body.error : null;
    if (error !== null) {
      return new ApiError(
        response.status,
        error.code,
        error.message,
        error.details ?? {},
        retryAfter,
        requestId,
      );
    }
    // Not the API's own answer (a proxy in between, say): keep what there is to read.
    const text = typeof body === "string" ? body.slice(0, 200) : response.statusText;
    return new ApiError(response.status, "http_error", text, {}, retryAfter, requestId);
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const error = (body as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    typeof (error as { message?: unknown }).message === "string"
  );
}

/** The seconds a `Retry-After` header asks for (a number of seconds or an HTTP date). */
export function retryAfterSeconds(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}
