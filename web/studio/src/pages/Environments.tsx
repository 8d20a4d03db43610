import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { enc, listAll, wsPath } from "../lib/api";
import { useTitle } from "../lib/router";
import { useWorkspace } from "../session";
import { Empty, ErrorBox, PageHeader, Spinner, Tabs } from "../ui";

// Environments: curated (served by mlw in every workspace) and custom
// ones, with their versions.
export function Environments() {
  useTitle("Environments");
  const w = useWorkspace();
  const q = useQuery({ queryKey: ["environments", wsPath(w)], queryFn: () => listAll(`${wsPath(w)}/environments`) });
  const [tab, setTab] = useState("curated");
  const [open, setOpen] = useState<string | null>(null);
  const all = q.data ?? [];
  const curated = all.filter((e: any) => e.name.startsWith("AzureML-"));
  const custom = all.filter((e: any) => !e.name.startsWith("AzureML-"));
  const list = tab === "curated" ? curated : custom;
  return (
    <section>
      <PageHeader title="Environments" />
      <Tabs tabs={[{ id: "curated", label: `Curated environments (${curated.length})` }, { id: "custom", label: `Custom environments (${custom.length})` }]} current={tab} onChange={setTab} />
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : list.length === 0 ? (
        <Empty title="No custom environments">Register one from a conda file with the SDK or <code>mlw environment create</code>; jobs build it once into a cached virtualenv.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Environments">
            <thead><tr><th>Name</th><th>Latest version</th><th>Description</th></tr></thead>
            <tbody>
              {list.map((e: any) => (
                <tr key={e.name}>
                  <td><button type="button" className="linklike" onClick={() => setOpen(open === e.name ? null : e.name)} aria-expanded={open === e.name}>{e.name}</button>
                    {open === e.name && <Versions name={e.name} />}</td>
                  <td>{e.properties?.latestVersion}</td>
                  <td>{e.properties?.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Versions({ name }: { name: string }) {
  const w = useWorkspace();
  const q = useQuery({ queryKey: ["env-versions", wsPath(w), name], queryFn: () => listAll(`${wsPath(w)}/environments/${enc(name)}/versions`) });
  if (q.isPending) return <Spinner />;
  return (
    <ul className="versions">
      <ErrorBox error={q.error} />
      {(q.data ?? []).map((v: any) => (
        <li key={v.name}>
          <strong>Version {v.name}</strong> {v.properties?.image && <code>{v.properties.image}</code>}
          {v.properties?.condaFile && <pre className="cmd">{v.properties.condaFile}</pre>}
        </li>
      ))}
    </ul>
  );
}
