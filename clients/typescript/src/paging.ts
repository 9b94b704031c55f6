import type { CallOptions } from "./call.js";

/** A page of a list: the API pages with opaque keyset cursors, newest first. */
export interface Paged<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** A list function of the client, e.g. `api.listAlerts`, or `(q) =>
 * api.listBudgetReallocations(poolId, q)` for a list under an item. */
export type Lister<Q extends { cursor?: string }, T> = (
  query?: Q,
  options?: CallOptions,
) => Promise<Paged<T>>;

/** Every page of a list in turn, from the newest, following `next_cursor`. */
export async function* pages<Q extends { cursor?: string }, T>(
  list: Lister<Q, T>,
  query?: Q,
  options?: CallOptions,
): AsyncGenerator<Paged<T>, void, undefined> {
  let next: Q | undefined = query;
  for (;;) {
    const page = await list(next, options);
    yield page;
    if (page.next_cursor === null || page.items.length === 0) return;
    next = { ...(query ?? ({} as Q)), cursor: page.next_cursor };
  }
}

/** Every item of a list, one at a time, fetching pages as needed. Stop early with `break`. */
export async function* items<Q extends { cursor?: string }, T>(
  list: Lister<Q, T>,
  query?: Q,
  options?: CallOptions,
): AsyncGenerator<T, void, undefined> {
  for await (const page of pages(list, query, options)) yield* page.items;
}

/** The items of a list, up to `max` of them (every one by default), in one array. */
export async function collect<Q extends { cursor?: string }, T>(
  list: Lister<Q, T>,
  query?: Q,
  options: CallOptions & { max?: number } = {},
): Promise<T[]> {
  const { max = Number.POSITIVE_INFINITY, ...call } = options;
  const found: T[] = [];
  if (max <= 0) return found;
  for await (const item of items(list, query, call)) {
    found.push(item);
    if (found.length >= max) break;
  }
  return found;
}
