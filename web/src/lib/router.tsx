// A small History API router: the path and query are signals, links push state, the back
// button pops it, and filters live in the query string so every view has its own URL.
import { signal } from "@preact/signals";
import type { ComponentChildren, JSX } from "preact";

export const path = signal(window.location.pathname);
export const search = signal(window.location.search);

function sync(): void {
  path.value = window.location.pathname;
  search.value = window.location.search;
}

window.addEventListener("popstate", sync);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.origin);
  const target = url.pathname + url.search + url.hash;
  if (target === window.location.pathname + window.location.search + window.location.hash) {
    return;
  }
  if (options.replace) window.history.replaceState(null, "", target);
  else window.history.pushState(null, "", target);
  sync();
}

/** The current query string's parameters. */
export function queryParams(): URLSearchParams {
  return new URLSearchParams(search.value);
}

/** Change some query parameters of the current URL, in place (no new history entry). */
export function setQuery(changes: Record<string, string | null | undefined>): void {
  const params = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") params.delete(name);
    else params.set(name, value);
  }
  const query = params.toString();
  navigate(window.location.pathname + (query ? `?${query}` : ""), { replace: true });
}

function isPlainLeftClick(event: MouseEvent): boolean {
  return (
    event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey
  );
}

type LinkProps = Omit<JSX.HTMLAttributes<HTMLAnchorElement>, "href"> & {
  href: string;
  children?: ComponentChildren;
};

export function Link({ href, onClick, children, ...rest }: LinkProps) {
  return (
    <a
      {...rest}
      href={href}
      onClick={(event) => {
        if (typeof onClick === "function") onClick(event);
        if (event.defaultPrevented || !isPlainLeftClick(event)) return;
        event.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}
