// Who is signed in. The API key lives in sessionStorage only: it goes when the tab closes.
import { computed, signal } from "@preact/signals";

export type Role = "viewer" | "operator" | "admin";

const KEY = "adpilot.apiKey";
const ROLE = "adpilot.role";
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

function stored(name: string): string | null {
  try {
    return window.sessionStorage.getItem(name);
  } catch {
    return null;
  }
}

function isRole(value: string | null): value is Role {
  return value === "viewer" || value === "operator" || value === "admin";
}

const storedRole = stored(ROLE);

export const apiKey = signal<string | null>(stored(KEY));
export const role = signal<Role | null>(isRole(storedRole) ? storedRole : null);
/** Why the last session ended, shown on the sign-in form. */
export const signedOutReason = signal<string | null>(null);

export const signedIn = computed(() => apiKey.value !== null && role.value !== null);

/** Whether the signed-in role may do what `needed` may (each role may do what the roles
 * before it may). */
export function can(needed: Role): boolean {
  const current = role.value;
  return current !== null && RANK[current] >= RANK[needed];
}

export function startSession(key: string, who: Role): void {
  try {
    window.sessionStorage.setItem(KEY, key);
    window.sessionStorage.setItem(ROLE, who);
  } catch {
    // Storage refused (a private window with storage off): the session lasts until reload.
  }
  signedOutReason.value = null;
  apiKey.value = key;
  role.value = who;
}

export function endSession(reason: string | null = null): void {
  try {
    window.sessionStorage.removeItem(KEY);
    window.sessionStorage.removeItem(ROLE);
  } catch {
    // Nothing stored, nothing to remove.
  }
  signedOutReason.value = reason;
  apiKey.value = null;
  role.value = null;
}
