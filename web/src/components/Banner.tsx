// Says, above every page, when the gateway or a service behind it is away, and when it is
// back. Pages keep what they have meanwhile and pick up again by themselves.
import { useEffect, useState } from "preact/hooks";

import {
  SERVICE_AREAS,
  gatewayDownSince,
  recoveredAt,
  serviceTrouble,
} from "../lib/connectivity";
import { when } from "../lib/format";

const SHOW_RECOVERED_MS = 8000;

export function OutageBanner() {
  const [, rerender] = useState(0);
  const recovered = recoveredAt.value;
  useEffect(() => {
    if (recovered === null) return;
    const timer = window.setTimeout(() => rerender((n) => n + 1), SHOW_RECOVERED_MS + 50);
    return () => window.clearTimeout(timer);
  }, [recovered]);

  const gatewayDown = gatewayDownSince.value;
  const troubles = Object.entries(serviceTrouble.value);

  if (gatewayDown !== null) {
    return (
      <div class="banner banner-bad" role="alert">
        <span aria-hidden="true">▲</span>
        <div>
          <strong>The adpilot gateway cannot be reached</strong> (since{" "}
          {when(new Date(gatewayDown).toISOString())}). What is on screen is the last data
          received; the page reconnects by itself when the gateway is back.
        </div>
      </div>
    );
  }
  if (troubles.length > 0) {
    return (
      <div class="banner banner-warn" role="alert">
        <span aria-hidden="true">◆</span>
        <div>
          <strong>
            {troubles.length === 1 ? "A service is unavailable" : "Some services are unavailable"}
          </strong>
          <ul>
            {troubles.map(([service, trouble]) => (
              <li key={service}>
                The <strong>{service}</strong> service: {trouble.problem}
                {SERVICE_AREAS[service] ? ` — ${SERVICE_AREAS[service]} may not load or update` : ""}.
              </li>
            ))}
          </ul>
        </div>
      </div>
    );
  }
  if (recovered !== null && Date.now() - recovered < SHOW_RECOVERED_MS) {
    return (
      <div class="banner banner-good" role="status">
        <span aria-hidden="true">✓</span>
        <div>
          <strong>Reconnected.</strong> Every service answers again; lists are catching up.
        </div>
      </div>
    );
  }
  return <div role="status" class="visually-hidden" />;
}
