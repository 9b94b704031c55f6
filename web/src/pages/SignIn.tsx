import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, apiWithKey, describeError, roleOf } from "../api";
import { Logo } from "../components/Layout";
import { signedOutReason, startSession } from "../lib/session";

export function SignIn() {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(signedOutReason.value);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = "Sign in · adpilot";
    input.current?.focus();
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) {
      setError("Enter an API key.");
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const client = apiWithKey(candidate);
      // Any route a viewer may call says whether the key is good.
      await client.getPreferences();
      const who = await roleOf(client);
      startSession(candidate, who);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setError(
          `That API key was not accepted (${e.message}). Check that you pasted all of it, or ask an admin for a new one.`,
        );
      } else {
        setError(describeError(e));
      }
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="signin">
      <main class="signin-card" id="main">
        <div class="brand">
          <Logo size={34} />
          <span>
            adpilot
            <small>Command center</small>
          </span>
        </div>
        <h1>Sign in</h1>
        <p class="muted small">
          Use an adpilot API key (it starts with <code>adp_</code>). It is kept in this tab only
          and forgotten when the tab closes.
        </p>
        <form onSubmit={submit} noValidate>
          <div class="field">
            <label for="api-key">API key</label>
            <input
              ref={input}
              id="api-key"
              name="api-key"
              type="password"
              autoComplete="off"
              spellcheck={false}
              value={key}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? "signin-error" : undefined}
              onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
            />
          </div>
          {error ? (
            <div id="signin-error" class="notice notice-bad" role="alert" style={{ margin: 0 }}>
              {error}
            </div>
          ) : null}
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      </main>
    </div>
  );
}
