import { ApiError } from "./errors.js";
import type { operations } from "./schema.js";

/** An operation of the API, by its `operationId` (`list_alerts`, `create_decision`...). */
export type OperationId = keyof operations;

/** The query parameters of an operation: paging (`limit`, `cursor`) and filters. */
export type Query<Op extends OperationId> = NonNullable<operations[Op]["parameters"]["query"]>;

/** The JSON body an operation takes. */
export type Body<Op extends OperationId> = operations[Op] extends {
  requestBody: { content: { "application/json": infer B } };
}
  ? B
  : never;

/** What an operation answers on success. */
export type Data<Op extends OperationId> = {
  [S in keyof operations[Op]["responses"]]: S extends 200 | 201 | 202
    ? operations[Op]["responses"][S] extends { content: { "application/json": infer D } }
      ? D
      : never
    : never;
}[keyof operations[Op]["responses"]];

/** Options of one call. */
export interface CallOptions {
  /** The `Idempotency-Key` of a change; by default a new one per call, kept across the
   * client's retries of it. Pass your own to make a change safe to repeat across restarts
   * of your program: the server answers a repeat from its store instead of acting again. */
  idempotencyKey?: string | undefined;
  /** Aborts the call (and its retries). */
  signal?: AbortSignal | undefined;
}

/** What openapi-fetch resolves to: data on success, the parsed error body otherwise. */
type Outcome<T> =
  | { data: T; error?: never; response: Response }
  | { data?: never; error: unknown; response: Response };

/** The part of openapi-fetch's options a call sets from its `CallOptions`. */
export interface Init {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Runs one openapi-fetch call with `options`; returns its data or throws an `ApiError`. */
export async function call<T>(
  options: CallOptions | undefined,
  send: (init: Init) => Promise<Outcome<T>>,
): Promise<T> {
  const init: Init = {};
  if (options?.idempotencyKey !== undefined) {
    init.headers = { "Idempotency-Key": options.idempotencyKey };
  }
  if (options?.signal !== undefined) init.signal = options.signal;
  const outcome = await send(init);
  if (!outcome.response.ok || outcome.error !== undefined) {
    throw ApiError.fromResponse(outcome.response, outcome.error);
  }
  return outcome.data as T;
}
