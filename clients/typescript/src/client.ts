import createFetchClient, { type Client } from "openapi-fetch";

import { operations, type Operations } from "./operations.js";
import { bearer, idempotencyKeys, randomUuid, retrying, type RetryOptions } from "./retry.js";
import type { paths } from "./schema.js";

export interface ClientOptions extends RetryOptions {
  /** Where the gateway is, e.g. `http://localhost:8080`; `/api/ai/...` is appended. The
   * default, `""`, is the page's own origin (a dashboard the gateway serves). */
  baseUrl?: string | undefined;
  /** An API key (`adp_...`) or a JWT, sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  /** Asked before every call, for a key that may change (one the user types in, say);
   * no key (null, undefined or "") sends no credentials, and the API answers 401. */
  getApiKey?:
    | (() => string | null | undefined | Promise<string | null | undefined>)
    | undefined;
  /** Where idempotency keys come from (default: a random UUID). */
  newIdempotencyKey?: (() => string) | undefined;
  /** The `fetch` to send with (default `globalThis.fetch`). */
  fetch?: ((request: Request) => Promise<Response>) | undefined;
}

/** The client: one function per operation (see `operations.ts`), and `raw`, the underlying
 * openapi-fetch client with the same credentials, keys and retries, for reading an answer's
 * headers or status (it answers `{data, error, response}` and throws nothing). */
export type AdpilotClient = Operations & { readonly raw: Client<paths> };

export function createClient(options: ClientOptions = {}): AdpilotClient {
  const { apiKey, getApiKey = () => apiKey } = options;
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const raw = createFetchClient<paths>({
    baseUrl: options.baseUrl ?? "",
    fetch: retrying(send, options),
  });
  raw.use(idempotencyKeys(options.newIdempotencyKey ?? randomUuid), bearer(getApiKey));
  return { ...operations(raw), raw };
}
