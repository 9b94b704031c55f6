// The frame around every page: skip link, navigation on the left, the outage banner, main.
import type { ComponentChildren } from "preact";

import { openIncidents, pendingRecommendations } from "../lib/health";
import { Link, path } from "../lib/router";
import { can, endSession, role } from "../lib/session";
import { OutageBanner } from "./Banner";

interface NavItem {
  href: string;
  label: string;
  count?: () => number | null;
  countLabel?: string;
  admin?: boolean;
}

const GROUPS: { name: string; items: NavItem[] }[] = [
  {
    name: "Monitor",
    items: [
      { href: "/overview", label: "Overview" },
      { href: "/alerts", label: "Alerts", count: () => openIncidents.value, countLabel: "open incidents" },
      { href: "/decisions", label: "Decisions" },
      {
        href: "/recommendations",
        label: "Recommendations",
        count: () => pendingRecommendations.value,
        countLabel: "pending",
      },
      { href: "/market", label: "Market" },
    ],
  },
  {
    name: "Act",
    items: [
      { href: "/optimizations", label: "Optimizations" },
      { href: "/rules", label: "Rules" },
      { href: "/budgets", label: "Budgets" },
    ],
  },
  {
    name: "Learn",
    items: [
      { href: "/forecasts", label: "Forecasts" },
      { href: "/experiments", label: "Experiments" },
      { href: "/performance", label: "Performance" },
    ],
  },
  {
    name: "System",
    items: [
      { href: "/audit", label: "Audit", admin: true },
      { href: "/status", label: "Status" },
    ],
  },
];

export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#1f4fd1" />
      <path
        d="M8 22 L14 10 L18 18 L21 13 L24 22"
        fill="none"
        stroke="#fff"
        stroke-width="2.6"
        stroke-linecap="round"
        stroke-linejoin="round"
      />
    </svg>
  );
}

function isCurrent(href: string): boolean {
  const current = path.value;
  if (href === "/overview") return current === "/" || current === "/overview";
  return current === href || current.startsWith(`${href}/`);
}

export function Layout({ children }: { children: ComponentChildren }) {
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <div class="shell">
        <aside class="sidebar">
          <Link class="brand" href="/overview">
            <Logo />
            <span>
              adpilot
              <small>Command center</small>
            </span>
          </Link>
          <nav class="nav" aria-label="Main">
            {GROUPS.map((group) => {
              const items = group.items.filter((item) => !item.admin || can("admin"));
              if (items.length === 0) return null;
              return (
                <div key={group.name}>
                  <div class="nav-group" aria-hidden="true">
                    {group.name}
                  </div>
                  <ul>
                    {items.map((item) => {
                      const count = item.count?.() ?? null;
                      const countId = `nav-count-${item.label.toLowerCase()}`;
                      return (
                        <li key={item.href}>
                          <Link
                            href={item.href}
                            aria-current={isCurrent(item.href) ? "page" : undefined}
                            aria-describedby={count ? countId : undefined}
                          >
                            <span>{item.label}</span>
                            {count ? (
                              <span class="count" id={countId} aria-hidden="true">
                                {count >= 100 ? "99+" : count}
                                <span class="visually-hidden"> {item.countLabel}</span>
                              </span>
                            ) : null}
                          </Link>
                        </li>
                      );
                    })}
                  </ul>
                </div>
              );
            })}
          </nav>
          <div class="sidebar-foot">
            <div class="who">
              Signed in as <strong>{role.value ?? "—"}</strong>
            </div>
            <button type="button" onClick={() => endSession()}>
              Sign out
            </button>
          </div>
        </aside>
        <div class="content">
          <OutageBanner />
          <main id="main" tabIndex={-1}>
            {children}
          </main>
        </div>
      </div>
    </>
  );
}
