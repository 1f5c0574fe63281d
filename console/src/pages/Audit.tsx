import { PageHeading } from "../components/ui.js";

export function AuditPage() {
  return <PageHeading title="Audit" />;
}
