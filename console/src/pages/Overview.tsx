import { PageHeading } from "../components/ui.js";
import type { Me } from "../roles.js";

export function OverviewPage(_props: { me: Me }) {
  return <PageHeading title="Overview" />;
}
