import { PageHeader } from "../components/ui";

export function Rules() {
  return <PageHeader title="Rules" />;
}
