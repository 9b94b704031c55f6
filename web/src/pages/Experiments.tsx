import { PageHeader } from "../components/ui";

export function Experiments() {
  return <PageHeader title="Experiments" />;
}
