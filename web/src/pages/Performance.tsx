import { PageHeader } from "../components/ui";

export function Performance() {
  return <PageHeader title="Performance" />;
}
