import { useQuery } from "@tanstack/react-query";
import { enc, getJSON, listAll, wsPath } from "../lib/api";
import { navigate, useLocation, useTitle } from "../lib/router";
import { ago } from "../lib/util";
import { useWorkspace } from "../session";
import { Badge, Empty, ErrorBox, Link, PageHeader, Spinner, Tabs } from "../ui";

const isCurated = (name: string) => name.startsWith("AzureML-");

// Environments: curated (served by mlw in every workspace) and custom
// ones; each opens on its versions, and a custom version shows its build.
export function Environments() {
  useTitle("Environments");
  const w = useWorkspace();
  const { query } = useLocation();
  const q = useQuery({ queryKey: ["environments", wsPath(w)], queryFn: () => listAll(`${wsPath(w)}/environments`) });
  const tab = query.get("tab") === "custom" ? "custom" : "curated";
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/environments`;
  const all = q.data ?? [];
  const curated = all.filter((e: any) => isCurated(e.name));
  const custom = all.filter((e: any) => !isCurated(e.name));
  const list = tab === "curated" ? curated : custom;
  return (
    <section>
      <PageHeader title="Environments" />
      <Tabs tabs={[{ id: "curated", label: `Curated environments (${curated.length})` }, { id: "custom", label: `Custom environments (${custom.length})` }]}
        current={tab} onChange={(t) => navigate(base + (t === "custom" ? "?tab=custom" : ""), true)} />
      <p className="hint">
        {tab === "curated"
          ? "Curated environments come with mlw: jobs run them on this machine's Python, whose packages each job's preparation checks."
          : "Custom environments are yours: a conda file (and an image, which the local backend ignores). Each is built once into a cached virtualenv, the first time a job uses it."}
      </p>
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : list.length === 0 ? (
        tab === "custom"
          ? <Empty title="No custom environments">Register one from a conda file with <code>mlw environment create --file env.yml</code> or the SDK's <code>ml_client.environments.create_or_update(...)</code>.</Empty>
          : <Empty title="No curated environments">This server lists none; curated environments are part of mlw itself.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Environments">
            <thead><tr><th>Name</th><th>Latest version</th><th>Description</th><th>Updated</th></tr></thead>
            <tbody>
              {list.map((e: any) => (
                <tr key={e.name} data-environment={e.name}>
                  <td><Link to={`${base}/${enc(e.name)}`}>{e.name}</Link></td>
                  <td>{e.properties?.latestVersion}</td>
                  <td className="wrap">{e.properties?.description}</td>
                  <td title={e.systemData?.lastModifiedAt}>{ago(e.systemData?.lastModifiedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

// EnvironmentPage is one environment: its versions, newest first, and the
// chosen one's image, conda file and (custom ones) build and build log.
export function EnvironmentPage({ name }: { name: string }) {
  useTitle(name);
  const w = useWorkspace();
  const { query } = useLocation();
  const base = `/ws/${w.sub}/${w.rg}/${w.ws}/environments`;
  const q = useQuery({ queryKey: ["env-versions", wsPath(w), name], queryFn: () => listAll(`${wsPath(w)}/environments/${enc(name)}/versions`) });
  const versions = [...(q.data ?? [])].sort((a: any, b: any) => versionOrder(b.name) - versionOrder(a.name) || String(b.name).localeCompare(String(a.name)));
  const chosen = versions.find((v: any) => v.name === query.get("version")) ?? versions[0];
  const pick = (v: string) => navigate(`${base}/${enc(name)}?version=${enc(v)}`, true);
  return (
    <section>
      <PageHeader title={name}>
        <Link to={base + (isCurated(name) ? "" : "?tab=custom")} className="btn">‹ Environments</Link>
      </PageHeader>
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : versions.length === 0 ? <Empty title="No versions">Create one with <code>mlw environment create --file env.yml</code>.</Empty> : (
        <div className="env-page">
          <aside className="panel versions-pane" aria-label="Versions">
            <h2>Versions</h2>
            <ul className="versions">
              {versions.map((v: any) => (
                <li key={v.name}>
                  <button type="button" className={"linklike" + (v.name === chosen?.name ? " active" : "")} aria-current={v.name === chosen?.name || undefined} onClick={() => pick(v.name)}>
                    Version {v.name}
                  </button> <span className="hint">{ago(v.systemData?.createdAt)}</span>
                </li>
              ))}
            </ul>
          </aside>
          {chosen && <Version key={chosen.name} name={name} v={chosen} />}
        </div>
      )}
    </section>
  );
}

function versionOrder(v: string): number {
  const n = Number(v);
  return isFinite(n) ? n : -1;
}

function Version({ name, v }: { name: string; v: any }) {
  const p = v.properties ?? {};
  const curated = p.environmentType === "Curated" || isCurated(name);
  return (
    <div className="env-version">
      <dl className="props panel">
        <dt>Version</dt><dd>{v.name}</dd>
        <dt>Type</dt><dd>{curated ? "Curated" : "Custom"}</dd>
        {p.description && (<><dt>Description</dt><dd>{p.description}</dd></>)}
        <dt>Image</dt><dd>{p.image ? <code>{p.image}</code> : "None"}{p.image && <div className="hint">The local backend runs jobs on this machine's Python; the image is kept for Azure.</div>}</dd>
        <dt>Created</dt><dd>{v.systemData?.createdBy} {ago(v.systemData?.createdAt)}</dd>
        <dt>Conda file</dt><dd>{p.condaFile ? <pre className="cmd conda">{p.condaFile}</pre> : "None"}</dd>
      </dl>
      <Build name={name} version={v.name} />
    </div>
  );
}

// Build shows how the version's build went on this server, with its log;
// it refreshes while a build runs.
function Build({ name, version }: { name: string; version: string }) {
  const w = useWorkspace();
  const path = `${wsPath(w)}/environments/${enc(name)}/versions/${enc(version)}/buildLog`;
  const q = useQuery({
    queryKey: ["env-build", path],
    queryFn: () => getJSON(path),
    refetchInterval: (qq) => (qq.state.data?.status === "Running" ? 1000 : 10_000),
  });
  const b = q.data;
  return (
    <section className="panel build" aria-label="Build">
      <h2>Build {b && <Badge state={b.status} />}</h2>
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : b && (
        <>
          <p role="status" data-build={b.status}>{b.reason}{b.builtAt && <span className="hint"> Built {ago(b.builtAt)}.</span>}</p>
          {b.log ? (
            <>
              <h3>Build log</h3>
              {b.truncated && <p className="hint">The beginning of the log is left out; it is longer than the studio shows.</p>}
              <pre className="log" aria-label="Build log" data-log="build">{b.log}</pre>
            </>
          ) : b.status !== "NotNeeded" && <p className="hint">No build log yet.</p>}
        </>
      )}
    </section>
  );
}
