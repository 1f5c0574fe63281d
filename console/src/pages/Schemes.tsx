import { PageHeading } from "../components/ui.js";
import type { Me } from "../roles.js";

export function SchemesPage(_props: { me: Me }) {
  return <PageHeading title="Schemes" />;
}
