// A page's filters live in its URL, so a filtered view can be bookmarked and shared.
import { search, setQuery } from "./router";

export function useFilters<K extends string>(
  names: readonly K[],
  defaults: Partial<Record<K, string>> = {},
): { values: Record<K, string>; set: (name: K, value: string) => void; key: string } {
  const params = new URLSearchParams(search.value);
  const values = {} as Record<K, string>;
  for (const name of names) values[name] = params.get(name) ?? defaults[name] ?? "";
  return {
    values,
    // An explicit empty choice is kept in the URL when the default is not empty.
    set: (name, value) => setQuery({ [name]: value === "" && defaults[name] ? "all" : value }),
    key: names.map((n) => `${n}=${values[n]}`).join("&"),
  };
}

/** The filter values to send: empty and "all" mean no filter. */
export function sent<K extends string>(values: Record<K, string>): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const [name, value] of Object.entries(values) as [K, string][]) {
    if (value !== "" && value !== "all") out[name] = value;
  }
  return out;
}
