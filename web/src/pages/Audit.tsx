import { PageHeader } from "../components/ui";

export function Audit() {
  return <PageHeader title="Audit" />;
}
