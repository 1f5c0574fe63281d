import { PageHeading } from "../components/ui.js";
import type { Me } from "../roles.js";

export function LicensesPage(_props: { me: Me }) {
  return <PageHeading title="Licenses" />;
}
