import { PageHeader } from "../components/ui";

export function Forecasts() {
  return <PageHeader title="Forecasts" />;
}
