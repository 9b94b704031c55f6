import { PageHeader } from "../components/ui";

export function Budgets() {
  return <PageHeader title="Budgets" />;
}
