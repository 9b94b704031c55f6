// Small building blocks every page uses.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { describeError, isOutage } from "../api";
import { ago } from "../lib/format";

export type Tone = "bad" | "warn" | "good" | "info" | "neutral";

const ICONS: Record<Tone, string> = {
  bad: "▲",
  warn: "◆",
  good: "✓",
  info: "●",
  neutral: "○",
};

/** A state in words with a shape beside it; the colour only repeats what they say. */
export function Badge({
  tone,
  children,
  icon,
  title,
}: {
  tone: Tone;
  children: ComponentChildren;
  icon?: string;
  title?: string;
}) {
  return (
    <span class={`badge tone-${tone}`} title={title}>
      <span class="icon" aria-hidden="true">
        {icon ?? ICONS[tone]}
      </span>
      {children}
    </span>
  );
}

export function PageHeader({
  title,
  description,
  children,
}: {
  title: string;
  description?: ComponentChildren;
  children?: ComponentChildren;
}) {
  useEffect(() => {
    document.title = `${title} · adpilot`;
  }, [title]);
  return (
    <div class="page-head">
      <div>
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        {description ? <p>{description}</p> : null}
      </div>
      {children ? <div class="row">{children}</div> : null}
    </div>
  );
}

/** A wide table's horizontal scroller. It can take the focus, so a keyboard alone can
 * scroll a table wider than the screen; ``label`` names it for screen readers. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

export function Card({
  title,
  description,
  actions,
  children,
  labelledBy,
  class: className,
}: {
  title?: ComponentChildren;
  description?: ComponentChildren;
  actions?: ComponentChildren;
  children?: ComponentChildren;
  labelledBy?: string;
  class?: string;
}) {
  const headingId = labelledBy ?? undefined;
  return (
    <section class={`card ${className ?? ""}`} aria-labelledby={headingId}>
      {title || actions ? (
        <div class="card-head">
          <div>
            {title ? <h2 id={headingId}>{title}</h2> : null}
            {description ? <p>{description}</p> : null}
          </div>
          {actions ? <div class="actions">{actions}</div> : null}
        </div>
      ) : null}
      {children}
    </section>
  );
}

export function ErrorNote({ error, prefix }: { error: unknown; prefix?: string }) {
  if (!error) return null;
  if (isOutage(error)) {
    // The banner above the page names what is away; here, only what it means for this part.
    return (
      <p class="muted small">
        <span aria-hidden="true">◌ </span>
        {prefix ? `${prefix} ` : ""}Waiting for the platform to answer again; this updates by itself.
      </p>
    );
  }
  return (
    <div class="notice notice-bad" role="alert">
      {prefix ? <strong>{prefix} </strong> : null}
      {describeError(error)}
    </div>
  );
}

export function Notice({
  tone,
  children,
  role,
}: {
  tone: "bad" | "warn" | "good" | "info";
  children: ComponentChildren;
  role?: "alert" | "status";
}) {
  return (
    <div class={`notice notice-${tone}`} role={role}>
      {children}
    </div>
  );
}

export function Loading({ what = "Loading…" }: { what?: string }) {
  return (
    <p class="muted" role="status">
      {what}
    </p>
  );
}

/** "Live · updated 4 s ago", or why the list is not live just now. */
export function LiveStamp({
  updatedAt,
  paused,
  error,
}: {
  updatedAt: number | null;
  paused: boolean;
  error: unknown;
}) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => tick((n) => n + 1), 5000);
    return () => window.clearInterval(timer);
  }, []);
  const stamp = updatedAt ? ago(new Date(updatedAt).toISOString()) : "not yet";
  if (error) {
    return (
      <span class="live stale">
        <span class="dot" aria-hidden="true" />
        Not updating: last update {stamp}
      </span>
    );
  }
  if (paused) {
    return (
      <span class="live paused">
        <span class="dot" aria-hidden="true" />
        Paused while the tab is hidden
      </span>
    );
  }
  return (
    <span class="live">
      <span class="dot" aria-hidden="true" />
      Live · updated {stamp}
    </span>
  );
}

/** The "N new — show" button above a live list, and word of rows that came in on top. */
export function NewRows({
  count,
  onShow,
  arrived = 0,
}: {
  count: number;
  onShow: () => void;
  arrived?: number;
}) {
  const bar = useRef<HTMLDivElement>(null);
  const show = () => {
    onShow();
    // The rows go on top of the list: take the reader there.
    bar.current?.parentElement?.scrollIntoView({ block: "start" });
  };
  return (
    <div class="new-bar" role="status" aria-live="polite" ref={bar}>
      {count > 0 ? (
        <button type="button" onClick={show}>
          {count} new — show
        </button>
      ) : arrived > 0 ? (
        <span class="visually-hidden">
          {arrived} new {arrived === 1 ? "row" : "rows"} at the top of the list
        </span>
      ) : null}
    </div>
  );
}

function singular(noun: string): string {
  if (noun.endsWith("ies")) return `${noun.slice(0, -3)}y`;
  return noun.endsWith("s") ? noun.slice(0, -1) : noun;
}

export function ListFoot({
  shown,
  hasMore,
  loadingMore,
  onMore,
  noun,
}: {
  shown: number;
  hasMore: boolean;
  loadingMore: boolean;
  onMore: () => void;
  noun: string;
}) {
  return (
    <div class="list-foot">
      <span>
        {shown} {shown === 1 ? singular(noun) : noun} shown{hasMore ? "; older ones follow" : ""}
      </span>
      {hasMore ? (
        <button type="button" onClick={onMore} disabled={loadingMore}>
          {loadingMore ? "Loading…" : "Load older"}
        </button>
      ) : null}
    </div>
  );
}

export interface Option {
  value: string;
  label: string;
}

export function SelectField({
  label: text,
  value,
  options,
  onChange,
  id,
  allLabel,
}: {
  label: string;
  value: string;
  options: readonly (Option | string)[];
  onChange: (value: string) => void;
  id?: string;
  /** The label of the empty choice; none if omitted. */
  allLabel?: string;
}) {
  const fieldId = id ?? `f-${text.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <div class="field">
      <label for={fieldId}>{text}</label>
      <select
        id={fieldId}
        value={value}
        onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {allLabel !== undefined ? <option value="">{allLabel}</option> : null}
        {options.map((o) =>
          typeof o === "string" ? (
            <option key={o} value={o}>
              {o}
            </option>
          ) : (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ),
        )}
      </select>
    </div>
  );
}

/**
 * A modal dialog (the native element: focus stays inside, Escape closes it). The
 * heading names it for assistive technology.
 */
export function Dialog({
  title,
  onClose,
  children,
  actions,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  actions: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useRef(`dialog-${Math.random().toString(36).slice(2, 9)}`).current;
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    const opener = document.activeElement as HTMLElement | null;
    return () => {
      if (opener && document.contains(opener)) opener.focus();
    };
  }, []);
  const onCancel = (event: JSX.TargetedEvent<HTMLDialogElement, Event>) => {
    event.preventDefault();
    onClose();
  };
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={onCancel}>
      <div class="dialog-body">
        <h2 id={titleId}>{title}</h2>
        {children}
      </div>
      <div class="dialog-actions">{actions}</div>
    </dialog>
  );
}

/** Render `value` as pretty JSON inside a disclosure. */
export function JsonDetails({ summary, value }: { summary: string; value: unknown }) {
  if (value === null || value === undefined) return null;
  return (
    <details>
      <summary>{summary}</summary>
      <pre class="json">{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}
