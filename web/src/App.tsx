import { useEffect } from "preact/hooks";

import { Layout } from "./components/Layout";
import { PageHeader } from "./components/ui";
import { watchCampaigns } from "./lib/campaigns";
import { watchHealth } from "./lib/health";
import { Link, path } from "./lib/router";
import { signedIn } from "./lib/session";
import { Alerts } from "./pages/Alerts";
import { Audit } from "./pages/Audit";
import { Budgets } from "./pages/Budgets";
import { DecisionDetail } from "./pages/DecisionDetail";
import { Decisions } from "./pages/Decisions";
import { Experiments } from "./pages/Experiments";
import { Forecasts } from "./pages/Forecasts";
import { Market } from "./pages/Market";
import { Optimizations } from "./pages/Optimizations";
import { Overview } from "./pages/Overview";
import { Performance } from "./pages/Performance";
import { Recommendations } from "./pages/Recommendations";
import { Rules } from "./pages/Rules";
import { SignIn } from "./pages/SignIn";
import { Status } from "./pages/Status";

function NotFound() {
  return (
    <>
      <PageHeader title="Page not found" description="There is no page at this address." />
      <Link href="/overview">Go to the overview</Link>
    </>
  );
}

function page(current: string) {
  const decision = /^\/decisions\/([0-9a-fA-F-]{36})\/?$/.exec(current);
  if (decision?.[1]) return <DecisionDetail id={decision[1]} />;
  switch (current.replace(/\/+$/, "") || "/") {
    case "/":
    case "/overview":
      return <Overview />;
    case "/alerts":
      return <Alerts />;
    case "/decisions":
      return <Decisions />;
    case "/market":
      return <Market />;
    case "/recommendations":
      return <Recommendations />;
    case "/optimizations":
      return <Optimizations />;
    case "/rules":
      return <Rules />;
    case "/budgets":
      return <Budgets />;
    case "/forecasts":
      return <Forecasts />;
    case "/experiments":
      return <Experiments />;
    case "/performance":
      return <Performance />;
    case "/audit":
      return <Audit />;
    case "/status":
      return <Status />;
    default:
      return <NotFound />;
  }
}

function SignedIn() {
  useEffect(() => {
    const stopHealth = watchHealth();
    const stopCampaigns = watchCampaigns();
    return () => {
      stopHealth();
      stopCampaigns();
    };
  }, []);

  const current = path.value;
  // A new page: move focus to its heading, so the change is announced and Tab starts there.
  useEffect(() => {
    const heading = document.getElementById("page-title");
    if (heading && document.activeElement !== heading) heading.focus({ preventScroll: false });
    window.scrollTo(0, 0);
  }, [current]);

  return <Layout>{page(current)}</Layout>;
}

export function App() {
  return signedIn.value ? <SignedIn /> : <SignIn />;
}
