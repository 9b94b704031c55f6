import { PageHeader } from "../components/ui";

export function Status() {
  return <PageHeader title="Status" />;
}
