import { useQueries } from "@tanstack/react-query";
import { listAll, provider, parseWorkspaceId, type Workspace } from "../lib/api";
import { useSubscriptions, useComputes } from "../lib/queries";
import { useTitle } from "../lib/router";
import { Empty, ErrorBox, Link, PageHeader, Spinner } from "../ui";
import { useSession } from "../session";

// Home: without a workspace, the workspaces to launch the studio in (the
// portal's "Launch studio"); in a workspace, where to go next.
export function Home({ ws }: { ws?: Workspace }) {
  return ws ? <WorkspaceHome ws={ws} /> : <AllWorkspaces />;
}

function AllWorkspaces() {
  useTitle("Workspaces");
  const subs = useSubscriptions();
  const lists = useQueries({
    queries: (subs.data ?? []).map((s: any) => ({
      queryKey: ["workspaces", s.subscriptionId, ""],
      queryFn: () => listAll(`/subscriptions/${s.subscriptionId}/${provider}/workspaces`),
      refetchInterval: 5000,
    })),
  });
  if (subs.isPending) return <Spinner />;
  if (subs.error) return <ErrorBox error={subs.error} />;
  const all = lists.flatMap((l) => l.data ?? []);
  return (
    <section>
      <PageHeader title="Workspaces" />
      <p className="lead">Choose a workspace and launch the studio in it. Resource groups and their workspaces are managed under <Link to="/resource-groups">Resource groups</Link>.</p>
      {lists.some((l) => l.error) && <ErrorBox error={lists.find((l) => l.error)?.error} />}
      {all.length === 0 && !lists.some((l) => l.isPending) ? (
        <Empty title="No workspaces yet">
          Create a resource group and a workspace under <Link to="/resource-groups">Resource groups</Link>, or with
          <code> mlw group create</code> and <code>mlw workspace create</code>.
        </Empty>
      ) : (
        <ul className="cards">
          {all.map((w: any) => {
            const id = parseWorkspaceId(w.id)!;
            return (
              <li key={w.id} className="card">
                <h3>{w.properties?.friendlyName || w.name}</h3>
                <dl>
                  <dt>Resource group</dt><dd>{id.rg}</dd>
                  <dt>Location</dt><dd>{w.location}</dd>
                </dl>
                <Link className="btn primary" to={`/ws/${id.sub}/${id.rg}/${id.ws}`} data-launch={w.name}>Launch studio</Link>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function WorkspaceHome({ ws }: { ws: Workspace }) {
  useTitle(ws.ws);
  const me = useSession();
  const computes = useComputes(ws);
  const base = `/ws/${ws.sub}/${ws.rg}/${ws.ws}`;
  const mine = (computes.data ?? []).filter((c: any) => c.properties?.computeType === "ComputeInstance");
  return (
    <section>
      <PageHeader title={`Welcome to the studio, ${me.user.name}`} />
      <p className="lead">Workspace <strong>{ws.ws}</strong> in resource group {ws.rg}.</p>
      <ul className="cards">
        <li className="card"><h3>Notebooks</h3><p>Files of the workspace file share; edit scripts, open notebooks on a compute instance.</p><Link className="btn" to={base + "/notebooks"}>Open Notebooks</Link></li>
        <li className="card"><h3>Compute</h3><p>{mine.length} compute instance{mine.length === 1 ? "" : "s"}; clusters for jobs.</p><Link className="btn" to={base + "/compute"}>Open Compute</Link></li>
        <li className="card"><h3>Jobs</h3><p>Experiments and the jobs submitted to them, with live logs.</p><Link className="btn" to={base + "/jobs"}>Open Jobs</Link></li>
        <li className="card"><h3>Environments</h3><p>Curated and custom environments for jobs.</p><Link className="btn" to={base + "/environments"}>Open Environments</Link></li>
      </ul>
    </section>
  );
}
