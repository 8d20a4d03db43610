import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { enc, parseWorkspaceId, provider, send } from "../lib/api";
import { useGroups, useSubscriptions, useWorkspaces } from "../lib/queries";
import { useTitle } from "../lib/router";
import { useWriteReason } from "../session";
import { Badge, Button, Dialog, Empty, ErrorBox, Field, Link, PageHeader, Spinner } from "../ui";

// The portal's part of the lab: resource groups and their workspaces,
// created here and deleted with a typed confirmation.
export function ResourceGroups() {
  useTitle("Resource groups");
  const subs = useSubscriptions();
  const sub: string | undefined = subs.data?.[0]?.subscriptionId;
  const groups = useGroups(sub);
  const [selected, setSelected] = useState<string | null>(null);
  const [dialog, setDialog] = useState<null | "group" | "workspace" | "delete-group" | { deleteWs: string }>(null);
  const reason = useWriteReason();
  const qc = useQueryClient();
  const refresh = () => qc.invalidateQueries({ queryKey: ["groups"] }).then(() => qc.invalidateQueries({ queryKey: ["workspaces"] }));
  if (subs.isPending || (sub && groups.isPending)) return <Spinner />;
  const list = groups.data ?? [];
  const sel = list.find((g: any) => g.name.toLowerCase() === selected?.toLowerCase());
  const selectReason = sel ? null : "Select a resource group first.";
  return (
    <section>
      <PageHeader title="Resource groups">
        <Button icon="+" reason={reason} onClick={() => setDialog("group")}>Create</Button>
        <Button reason={reason ?? selectReason} onClick={() => setDialog("delete-group")}>Delete resource group</Button>
        <Button icon="↻" onClick={refresh} aria-label="Refresh">Refresh</Button>
      </PageHeader>
      <ErrorBox error={subs.error ?? groups.error} />
      {list.length === 0 ? (
        <Empty title="No resource groups">Create one to hold your workspaces (the lab's is <code>rg-dp100-labs</code>).</Empty>
      ) : (
        <div className="table-wrap">
          <table className="grid" aria-label="Resource groups">
            <thead><tr><th scope="col" className="check"><span className="sr">Select</span></th><th scope="col">Name</th><th scope="col">Location</th><th scope="col">State</th></tr></thead>
            <tbody>
              {list.map((g: any) => (
                <tr key={g.id} className={sel?.id === g.id ? "selected" : ""}>
                  <td className="check">
                    <input type="radio" name="rg" aria-label={`Select ${g.name}`} checked={sel?.id === g.id} onChange={() => setSelected(g.name)} />
                  </td>
                  <td><button type="button" className="linklike" onClick={() => setSelected(g.name)}>{g.name}</button></td>
                  <td>{g.location}</td>
                  <td><Badge state={g.properties?.provisioningState} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {sel && sub && <GroupWorkspaces sub={sub} rg={sel.name} onCreate={() => setDialog("workspace")} onDelete={(n) => setDialog({ deleteWs: n })} />}
      {dialog === "group" && sub && <CreateGroup sub={sub} onClose={() => setDialog(null)} onDone={(n) => { setSelected(n); setDialog(null); refresh(); }} />}
      {dialog === "workspace" && sub && sel && <CreateWorkspace sub={sub} rg={sel.name} location={sel.location} onClose={() => setDialog(null)} onDone={() => { setDialog(null); refresh(); }} />}
      {dialog === "delete-group" && sub && sel && (
        <TypedDelete
          kind="resource group"
          name={sel.name}
          path={`/subscriptions/${sub}/resourcegroups/${enc(sel.name)}`}
          warning="Everything in it goes: its workspaces with their compute instances, clusters, jobs, files and data. Running instances and jobs are stopped."
          onClose={() => setDialog(null)}
          onDone={() => { setDialog(null); refresh(); }}
        />
      )}
      {typeof dialog === "object" && dialog && sub && sel && (
        <TypedDelete
          kind="workspace"
          name={dialog.deleteWs}
          path={`/subscriptions/${sub}/resourceGroups/${enc(sel.name)}/${provider}/workspaces/${enc(dialog.deleteWs)}`}
          warning="Its compute, jobs, files and data go with it."
          onClose={() => setDialog(null)}
          onDone={() => { setDialog(null); refresh(); }}
        />
      )}
    </section>
  );
}

function GroupWorkspaces({ sub, rg, onCreate, onDelete }: { sub: string; rg: string; onCreate: () => void; onDelete: (name: string) => void }) {
  const wss = useWorkspaces(sub, rg);
  const reason = useWriteReason();
  return (
    <section className="panel" aria-label={`Workspaces in ${rg}`}>
      <div className="page-header">
        <h2>Workspaces in {rg}</h2>
        <div className="toolbar"><Button icon="+" reason={reason} onClick={onCreate}>Create workspace</Button></div>
      </div>
      <ErrorBox error={wss.error} />
      {wss.isPending ? <Spinner /> : (wss.data ?? []).length === 0 ? (
        <Empty title="No workspaces in this group">Create one (the lab's is <code>mlw-dp100-labs</code>).</Empty>
      ) : (
        <ul className="cards">
          {(wss.data ?? []).map((w: any) => {
            const id = parseWorkspaceId(w.id)!;
            return (
              <li className="card" key={w.id}>
                <h3>{w.name}</h3>
                <dl><dt>Location</dt><dd>{w.location}</dd><dt>State</dt><dd><Badge state={w.properties?.provisioningState} /></dd></dl>
                <div className="row">
                  <Link className="btn primary" to={`/ws/${id.sub}/${id.rg}/${id.ws}`} data-launch={w.name}>Launch studio</Link>
                  <Button reason={reason} onClick={() => onDelete(w.name)}>Delete</Button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function CreateGroup({ sub, onClose, onDone }: { sub: string; onClose: () => void; onDone: (name: string) => void }) {
  const [name, setName] = useState("");
  const [loc, setLoc] = useState("eastus");
  const [err, setErr] = useState<unknown>(null);
  const submit = async () => {
    try {
      await send("PUT", `/subscriptions/${sub}/resourcegroups/${enc(name)}`, { location: loc });
      onDone(name);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Dialog title="Create a resource group" onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button primary disabled={!name} onClick={submit}>Create</Button></>}>
      <Field label="Name"><input value={name} onChange={(e) => setName(e.target.value)} placeholder="rg-dp100-labs" /></Field>
      <Field label="Region"><input value={loc} onChange={(e) => setLoc(e.target.value)} /></Field>
      <ErrorBox error={err} />
    </Dialog>
  );
}

function CreateWorkspace({ sub, rg, location, onClose, onDone }: { sub: string; rg: string; location: string; onClose: () => void; onDone: () => void }) {
  const [name, setName] = useState("");
  const [err, setErr] = useState<unknown>(null);
  const submit = async () => {
    try {
      await send("PUT", `/subscriptions/${sub}/resourceGroups/${enc(rg)}/${provider}/workspaces/${enc(name)}`, { location, properties: { friendlyName: name } });
      onDone();
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Dialog title={`Create a workspace in ${rg}`} onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button primary disabled={!name} onClick={submit}>Create</Button></>}>
      <Field label="Name"><input value={name} onChange={(e) => setName(e.target.value)} placeholder="mlw-dp100-labs" /></Field>
      <ErrorBox error={err} />
    </Dialog>
  );
}

// TypedDelete asks for the name to be typed before a delete, as the
// Azure portal does for resource groups.
export function TypedDelete({ kind, name, path, warning, onClose, onDone }: { kind: string; name: string; path: string; warning: string; onClose: () => void; onDone: () => void }) {
  const [typed, setTyped] = useState("");
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const ok = typed === name;
  const submit = async () => {
    setBusy(true);
    try {
      await send("DELETE", path);
      onDone();
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Delete ${kind}`}
      onClose={onClose}
      footer={<><Button onClick={onClose}>Cancel</Button><Button primary className="danger" disabled={!ok || busy} onClick={submit}>Delete</Button></>}
    >
      <p className="warning">Deleting the {kind} <strong>{name}</strong> cannot be undone. {warning}</p>
      <Field label={`Type the ${kind} name to confirm`}>
        <input value={typed} onChange={(e) => setTyped(e.target.value)} aria-label={`Type the ${kind} name to confirm`} placeholder={name} autoComplete="off" />
      </Field>
      <ErrorBox error={err} />
    </Dialog>
  );
}
