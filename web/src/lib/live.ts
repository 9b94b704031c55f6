// Lists that keep themselves current. The first page comes with the API's cursor for the
// next; every few seconds the first page is asked for again: rows already shown are updated
// in place, rows that left the filter go, and newer rows go on top — unless the person is
// busy further down the list (scrolled, selecting, in a dialog), when they wait behind
// "N new — show" so nothing moves under them. Polling slows down while nothing changes
// and stops while the tab is hidden.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

import type { Page } from "../api";

export interface Row {
  id: string;
  created_at: string;
}

export interface LiveOptions<T> {
  limit?: number;
  /** First pause between polls, in ms (3 s); doubles while nothing changes. */
  interval?: number;
  /** The longest pause between polls, in ms (30 s). */
  maxInterval?: number;
  /** What tells two versions of a row apart (default: `updated_at`, else `status`). */
  version?: (row: T) => string;
  /** False to skip loading (a page waiting for a choice). */
  enabled?: boolean;
  /** True while new rows should wait for "show" rather than go on top (default: the page
   * is scrolled down or a dialog is open). */
  holdNew?: () => boolean;
}

/** The person is reading further down, or is in a dialog: rows must not move. */
export function busyReading(): boolean {
  return window.scrollY > 160 || document.querySelector("dialog[open]") !== null;
}

export interface LiveList<T> {
  items: T[];
  /** Rows newer than the newest shown, waiting for "show". */
  fresh: T[];
  /** Rows the last poll put on top by itself, to mark as new. */
  arrived: ReadonlySet<string>;
  hasMore: boolean;
  loading: boolean;
  loadingMore: boolean;
  error: unknown;
  /** When the list last heard from the API. */
  updatedAt: number | null;
  paused: boolean;
  showFresh: () => void;
  loadMore: () => Promise<void>;
  /** Put a row the API just answered (after an action) in place of the one shown. */
  replace: (row: T) => void;
  refresh: () => void;
}

function defaultVersion(row: Row): string {
  const r = row as Row & { updated_at?: unknown; status?: unknown };
  return String(r.updated_at ?? r.status ?? "");
}

function newer(a: Row, b: Row): boolean {
  return a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id);
}

export function useLiveList<T extends Row>(
  fetchPage: (query: { limit: number; cursor?: string }) => Promise<Page<T>>,
  key: string,
  options: LiveOptions<T> = {},
): LiveList<T> {
  const limit = options.limit ?? 50;
  const base = options.interval ?? 3000;
  const maxInterval = options.maxInterval ?? 30_000;
  const enabled = options.enabled ?? true;
  const version = options.version ?? defaultVersion;

  const [items, setItems] = useState<T[]>([]);
  const [fresh, setFresh] = useState<T[]>([]);
  const [arrived, setArrived] = useState<ReadonlySet<string>>(new Set());
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const [paused, setPaused] = useState(document.hidden);

  // The state the poller reads between renders.
  const state = useRef({ items: [] as T[], fresh: [] as T[], generation: 0 });
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const versionRef = useRef(version);
  versionRef.current = version;
  const holdRef = useRef(options.holdNew ?? busyReading);
  holdRef.current = options.holdNew ?? busyReading;
  const pollNow = useRef<() => void>(() => undefined);

  const publish = useCallback((nextItems: T[], nextFresh: T[]) => {
    state.current.items = nextItems;
    state.current.fresh = nextFresh;
    setItems(nextItems);
    setFresh(nextFresh);
  }, []);

  useEffect(() => {
    const generation = ++state.current.generation;
    const current = () => state.current.generation === generation;
    let timer: number | undefined;
    let delay = base;
    let inFlight = false;
    publish([], []);
    setArrived(new Set());
    setCursor(null);
    setError(null);
    setUpdatedAt(null);
    if (!enabled) {
      setLoading(false);
      return () => {
        state.current.generation++;
      };
    }
    setLoading(true);

    const schedule = () => {
      window.clearTimeout(timer);
      if (!current() || document.hidden) return;
      timer = window.setTimeout(() => void poll(), delay);
    };

    const load = async () => {
      try {
        const page = await fetchRef.current({ limit });
        if (!current()) return;
        publish(page.items, []);
        setCursor(page.next_cursor);
        setError(null);
        setUpdatedAt(Date.now());
      } catch (e) {
        if (!current()) return;
        setError(e);
      } finally {
        if (current()) setLoading(false);
      }
    };

    const poll = async () => {
      if (!current() || inFlight || document.hidden) return;
      inFlight = true;
      let changed = false;
      try {
        if (state.current.items.length === 0 && state.current.fresh.length === 0) {
          const before = state.current.items.length;
          await load();
          changed = state.current.items.length !== before;
          return;
        }
        const page = await fetchRef.current({ limit });
        if (!current()) return;
        const polled = new Map(page.items.map((row) => [row.id, row]));
        const shown = state.current.items;
        const newest = shown[0];
        const oldestPolled = page.items[page.items.length - 1];
        const v = versionRef.current;

        // Rows shown: updated in place, or gone when the page covers them and lacks them.
        const kept: T[] = [];
        for (const row of shown) {
          const now = polled.get(row.id);
          if (now) {
            if (v(now) !== v(row)) changed = true;
            kept.push(now);
          } else if (
            page.next_cursor === null ||
            (oldestPolled !== undefined && newer(row, oldestPolled))
          ) {
            changed = true; // no longer matches the filter, or deleted
          } else {
            kept.push(row);
          }
        }
        const shownIds = new Set(kept.map((r) => r.id));
        const waiting = page.items.filter(
          (row) => !shownIds.has(row.id) && (newest === undefined || newer(row, newest)),
        );
        const before = state.current.fresh;
        if (
          waiting.length !== before.length ||
          waiting.some((row, i) => row.id !== before[i]?.id || v(row) !== v(before[i]!))
        ) {
          changed = true;
        }
        if (waiting.length > 0 && (kept.length === 0 || !holdRef.current())) {
          publish([...waiting, ...kept], []);
          setArrived(new Set(waiting.map((row) => row.id)));
        } else {
          publish(kept, waiting);
        }
        setError(null);
        setUpdatedAt(Date.now());
      } catch (e) {
        if (current()) setError(e);
      } finally {
        inFlight = false;
        delay = changed ? base : Math.min(delay * 2, maxInterval);
        schedule();
      }
    };

    pollNow.current = () => {
      delay = base;
      void poll();
    };

    const onVisibility = () => {
      setPaused(document.hidden);
      if (document.hidden) window.clearTimeout(timer);
      else {
        delay = base;
        void poll();
      }
    };
    document.addEventListener("visibilitychange", onVisibility);
    void load().then(schedule);

    return () => {
      state.current.generation++;
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
    // Options read through refs; a new key or paging shape starts the list afresh.
  }, [key, enabled, limit, base, maxInterval]);

  const showFresh = useCallback(() => {
    setArrived(new Set(state.current.fresh.map((row) => row.id)));
    publish([...state.current.fresh, ...state.current.items], []);
  }, [publish]);

  const loadMore = useCallback(async () => {
    if (cursor === null) return;
    const generation = state.current.generation;
    setLoadingMore(true);
    try {
      const page = await fetchRef.current({ limit, cursor });
      if (state.current.generation !== generation) return;
      const ids = new Set(state.current.items.map((r) => r.id));
      publish([...state.current.items, ...page.items.filter((r) => !ids.has(r.id))], state.current.fresh);
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
    }
  }, [cursor, limit, publish]);

  const replace = useCallback(
    (row: T) => {
      publish(
        state.current.items.map((r) => (r.id === row.id ? row : r)),
        state.current.fresh.map((r) => (r.id === row.id ? row : r)),
      );
    },
    [publish],
  );

  const refresh = useCallback(() => pollNow.current(), []);

  return {
    items,
    fresh,
    arrived,
    hasMore: cursor !== null,
    loading,
    loadingMore,
    error,
    updatedAt,
    paused,
    showFresh,
    loadMore,
    replace,
    refresh,
  };
}

/**
 * A value fetched once and then again on an interval (slower while the tab is hidden:
 * not at all), for the parts of a page that are not paged lists.
 */
export function usePolled<T>(
  fetchValue: () => Promise<T>,
  key: string,
  intervalMs = 15_000,
  enabled = true,
): { data: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const fetchRef = useRef(fetchValue);
  fetchRef.current = fetchValue;
  const reloadRef = useRef<() => void>(() => undefined);

  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    setData(null);
    setError(null);
    if (!enabled) {
      setLoading(false);
      return () => undefined;
    }
    setLoading(true);
    const run = async () => {
      window.clearTimeout(timer);
      if (document.hidden) return;
      try {
        const value = await fetchRef.current();
        if (!live) return;
        setData(value);
        setError(null);
      } catch (e) {
        if (live) setError(e);
      } finally {
        if (live) {
          setLoading(false);
          timer = window.setTimeout(() => void run(), intervalMs);
        }
      }
    };
    reloadRef.current = () => void run();
    const onVisibility = () => {
      if (!document.hidden) void run();
      else window.clearTimeout(timer);
    };
    document.addEventListener("visibilitychange", onVisibility);
    void run();
    return () => {
      live = false;
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [key, intervalMs, enabled]);

  return { data, error, loading, reload: useCallback(() => reloadRef.current(), []) };
}
