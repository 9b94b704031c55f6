import { PageHeader } from "../components/ui";

export function Overview() {
  return <PageHeader title="Overview" />;
}
