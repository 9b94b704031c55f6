import type { Middleware } from "openapi-fetch";

import { ApiError, retryAfterSeconds } from "./errors.js";

export const IDEMPOTENCY_KEY = "Idempotency-Key";
/** `true` on an answer the gateway gave from its store: the change was made once, earlier. */
export const REPLAYED = "Idempotent-Replayed";
const CHANGES: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);

export interface RetryOptions {
  /** Attempts per call, the first included (default 4). */
  maxAttempts?: number | undefined;
  /** The first pause between attempts when the server names none; doubles each time
   * (default 250 ms). */
  retryDelayMs?: number | undefined;
  /** No pause is longer than this, whatever `Retry-After` says (default 30 s). */
  maxRetryDelayMs?: number | undefined;
  /** Each attempt is given up after this long (default 30 s), then retried. */
  timeoutMs?: number | undefined;
  /** How the client waits between attempts (tests make it instant). */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/** Gives each change (POST, PUT, PATCH) an `Idempotency-Key` unless the call has one. It
 * runs once per call, before the retries, so every attempt of a call carries the same key. */
export function idempotencyKeys(newKey: () => string): Middleware {
  return {
    onRequest({ request }) {
      if (CHANGES.has(request.method) && !request.headers.has(IDEMPOTENCY_KEY)) {
        request.headers.set(IDEMPOTENCY_KEY, newKey());
      }
    },
  };
}

/** Sends `Authorization: Bearer <key>` when there is a key; without one the API answers 401. */
export function bearer(
  getKey: () => string | null | undefined | Promise<string | null | undefined>,
): Middleware {
  return {
    async onRequest({ request }) {
      const key = await getKey();
      if (key) request.headers.set("Authorization", `Bearer ${key}`);
    },
  };
}

/**
 * `fetch` that retries a request on a network error or timeout, on 503, and while the
 * gateway is still answering an earlier attempt with the same key (409
 * `idempotency_in_progress`), honouring `Retry-After`. Other answers are final: a 4xx says
 * the request itself is wrong, and is not made right by sending it again.
 */
export function retrying(
  fetchImpl: (request: Request) => Promise<Response>,
  options: RetryOptions = {},
): (request: Request) => Promise<Response> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const firstPause = options.retryDelayMs ?? 250;
  const maxPause = options.maxRetryDelayMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise((done) => setTimeout(done, ms)));

  return async (request) => {
    let pause = firstPause;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxAttempts;
      const signal = anySignal([request.signal, AbortSignal.timeout(timeoutMs)]);
      let response: Response;
      try {
        // A clone per attempt: a body can be read only once.
        response = await fetchImpl(new Request(request.clone(), { signal }));
      } catch (error) {
        if (request.signal.aborted || !isNetworkError(error)) throw error;
        if (last) {
          throw new ApiError(0, "network_error", `no answer from ${request.url}`, {}, null, null, {
            cause: error,
          });
        }
        await sleep(Math.min(pause, maxPause));
        pause *= 2;
        continue;
      }
      if (last || !(await retryable(response))) return response;
      const asked = retryAfterSeconds(response.headers.get("Retry-After"));
      await response.body?.cancel();
      await sleep(Math.min(asked === null ? pause : asked * 1000, maxPause));
      pause *= 2;
    }
  };
}

async function retryable(response: Response): Promise<boolean> {
  if (response.status === 503) return true;
  if (response.status !== 409) return false;
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown } };
    return body.error?.code === "idempotency_in_progress";
  } catch {
    return false;
  }
}

function isNetworkError(error: unknown): boolean {
  // fetch rejects with a TypeError when the connection fails or is cut, and with a
  // TimeoutError when the per-attempt timeout fires.
  return (
    error instanceof TypeError ||
    (typeof error === "object" && error !== null && (error as Error).name === "TimeoutError")
  );
}

/** `AbortSignal.any`, for browsers that lack it. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any(signals);
  const controller = new AbortController();
  for (const signal of signals) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}

/** A random (version 4) UUID. `crypto.randomUUID` exists only in secure contexts (https or
 * localhost); a dashboard opened over plain http elsewhere still needs keys. */
export function randomUuid(): string {
  if (typeof globalThis.crypto.randomUUID === "function") return globalThis.crypto.randomUUID();
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const part = (from: number, to?: number) => hex.slice(from, to);
  return `${part(0, 8)}-${part(8, 12)}-${part(12, 16)}-${part(16, 20)}-${part(20)}`;
}
