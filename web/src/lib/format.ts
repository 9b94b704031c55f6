// How numbers, money, shares and times read on every page.

const numberFormats = new Map<string, Intl.NumberFormat>();

function numberFormat(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = JSON.stringify(options);
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat("en-US", options);
    numberFormats.set(key, format);
  }
  return format;
}

export const DASH = "—";

export function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

export function num(value: unknown, digits = 2): string {
  if (!isNumber(value)) return DASH;
  return numberFormat({ maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value);
}

export function fixed(value: unknown, digits = 2): string {
  if (!isNumber(value)) return DASH;
  return numberFormat({ maximumFractionDigits: digits, minimumFractionDigits: digits }).format(
    value,
  );
}

export function int(value: unknown): string {
  if (!isNumber(value)) return DASH;
  return numberFormat({ maximumFractionDigits: 0 }).format(value);
}

/** Money in the account's currency, which the API does not name. */
export function money(value: unknown, digits = 2): string {
  if (!isNumber(value)) return DASH;
  return numberFormat({ maximumFractionDigits: digits, minimumFractionDigits: digits }).format(
    value,
  );
}

/** A compact amount for axes and tiles: 12.4k, 1.2M. */
export function compact(value: unknown): string {
  if (!isNumber(value)) return DASH;
  return numberFormat({ notation: "compact", maximumFractionDigits: 1 }).format(value);
}

/** A share (0.153) as a percentage (15.3%). */
export function pct(value: unknown, digits = 1): string {
  if (!isNumber(value)) return DASH;
  return `${numberFormat({ maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value * 100)}%`;
}

/** A relative change (0.153) with its sign (+15.3%). */
export function signedPct(value: unknown, digits = 1): string {
  if (!isNumber(value)) return DASH;
  const text = pct(Math.abs(value), digits);
  if (value > 0) return `+${text}`;
  if (value < 0) return `−${text}`;
  return text;
}

export function ratio(value: unknown): string {
  if (!isNumber(value)) return DASH;
  return `${fixed(value, 2)}×`;
}

const dateTime = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const dateTimeYear = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short" });
const utcHour = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "UTC",
});

function toDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A wall-clock instant in the viewer's time zone. */
export function when(value: string | null | undefined): string {
  const date = toDate(value);
  if (!date) return DASH;
  const sameYear = date.getFullYear() === new Date().getFullYear();
  return (sameYear ? dateTime : dateTimeYear).format(date);
}

/** An hour on the ad platform's clock, which runs in UTC (and, in the sandbox, fast). */
export function platformHour(value: string | null | undefined): string {
  const date = toDate(value);
  return date ? `${utcHour.format(date)} UTC` : DASH;
}

/** Free text with ISO instants in it ("ends at 2026-11-14T22:00:00+00:00"), each instant
 * written as a platform hour ("ends at 14 Nov, 22:00 UTC"). */
export function readableInstants(text: string): string {
  return text.replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g, (instant) =>
    platformHour(instant),
  );
}

export function day(value: string | null | undefined): string {
  const date = toDate(value);
  return date ? dayFormat.format(date) : DASH;
}

/** "3 min ago", "in 2 h": how long since (or until) an instant. */
export function ago(value: string | null | undefined, now = Date.now()): string {
  const date = toDate(value);
  if (!date) return DASH;
  const seconds = Math.round((now - date.getTime()) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text: string;
  if (s < 10) return "just now";
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function duration(seconds: unknown): string {
  if (!isNumber(seconds)) return DASH;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${fixed(seconds / 3600, 1)} h`;
  return `${fixed(seconds / 86400, 1)} d`;
}

/** snake_case words as a reader would write them: "budget_adjustment" → "Budget adjustment". */
export function label(value: string | null | undefined): string {
  if (!value) return DASH;
  const words = value
    .replace(/[_.]+/g, " ")
    .trim()
    .replace(/\b(api|roas|cpa|cpc|ctr|cvr|roi|ece|srm)\b/gi, (w) => w.toUpperCase());
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : DASH;
}
