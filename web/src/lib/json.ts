// Reading the free-form JSON columns (evidence, context, outcomes) without trusting them.

export type JsonRecord = { readonly [key: string]: unknown };

export function record(value: unknown): JsonRecord | null {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as JsonRecord)
    : null;
}

export function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function records(value: unknown): JsonRecord[] {
  return list(value)
    .map(record)
    .filter((r): r is JsonRecord => r !== null);
}

/** The value at a path of keys, or undefined. */
export function at(value: unknown, ...path: string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    const r = record(current);
    if (!r) return undefined;
    current = r[key];
  }
  return current;
}

export function numAt(value: unknown, ...path: string[]): number | null {
  const v = at(value, ...path);
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function strAt(value: unknown, ...path: string[]): string | null {
  const v = at(value, ...path);
  return typeof v === "string" ? v : null;
}

export function boolAt(value: unknown, ...path: string[]): boolean | null {
  const v = at(value, ...path);
  return typeof v === "boolean" ? v : null;
}
