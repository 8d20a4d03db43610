import { lazy, Suspense, useEffect, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { encPath, request, send, withVersion, wsPath } from "../lib/api";
import { computeState, useComputes } from "../lib/queries";
import { useTitle } from "../lib/router";
import { buildTree, emptyNotebook, fileName, fileTypes, type TreeNode } from "../lib/util";
import { useSession, useWorkspace, useWriteReason } from "../session";
import { Badge, Button, Dialog, Empty, ErrorBox, Field, MenuButton, Spinner } from "../ui";

const Editor = lazy(() => import("../Editor").then((m) => ({ default: m.Editor })));

// Notebooks: the workspace file share as a tree (Files pane) and an
// editor; notebooks open in the Jupyter of a running compute instance.
// The current folder (the last folder chosen, or the open file's) is where
// new files, folders and uploads go unless another location is picked.
export default function Notebooks() {
  useTitle("Notebooks");
  const w = useWorkspace();
  const me = useSession();
  const reason = useWriteReason();
  const qc = useQueryClient();
  const filesKey = ["files", wsPath(w)];
  const files = useQuery({ queryKey: filesKey, queryFn: () => send("GET", `${wsPath(w)}/files?recursive=true`).then((d: any) => d.value as any[]) });
  const [open, setOpen] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set(["Users", `Users/${me.user.name}`]));
  const [dialog, setDialog] = useState<null | { kind: "file" | "folder" | "upload" | "rename" | "delete"; path?: string }>(null);
  const home = `Users/${me.user.name}`;
  const [current, setCurrent] = useState(home);
  const refresh = () => qc.invalidateQueries({ queryKey: filesKey });
  const tree = buildTree(files.data ?? []);
  const folders = ["", ...(files.data ?? []).filter((f: any) => f.isDirectory).map((f: any) => f.path as string)];
  if (!folders.includes(home)) folders.push(home);
  folders.sort();
  const here = folders.includes(current) ? current : home;
  const openFile = (p: string) => {
    setOpen(p);
    setCurrent(p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
  };
  const toggle = (p: string) => {
    const n = new Set(expanded);
    if (n.has(p)) n.delete(p);
    else n.add(p);
    setExpanded(n);
  };
  return (
    <section className="notebooks">
      <aside className="files" aria-label="Files">
        <div className="files-head">
          <h2>Files</h2>
          <div className="toolbar">
            <MenuButton icon="+" label="Add files" reason={reason} items={[
              { label: "Create new file", onSelect: () => setDialog({ kind: "file" }) },
              { label: "Create new folder", onSelect: () => setDialog({ kind: "folder" }) },
              { label: "Upload files", onSelect: () => setDialog({ kind: "upload" }) },
            ]} />
            <Button icon="↻" aria-label="Refresh" title="Refresh" onClick={refresh} />
          </div>
        </div>
        <p className="hint current-folder" data-current-folder={here}>In <strong>{here || "(root)"}</strong></p>
        <ErrorBox error={files.error} />
        {files.isPending ? <Spinner /> : tree.children.length === 0 ? (
          <Empty title="No files yet">Select <strong>Add files</strong> to create or upload one.</Empty>
        ) : (
          <ul className="tree" role="tree" aria-label="Workspace files">
            {tree.children.map((n) => <Node key={n.path} n={n} depth={0} expanded={expanded} toggle={toggle} open={open} onOpen={openFile}
              current={here} onFolder={setCurrent} onAction={(kind, path) => setDialog({ kind, path })} reason={reason} />)}
          </ul>
        )}
      </aside>
      <div className="editor-pane">
        {open ? <FileView key={open} path={open} onDeleted={() => { setOpen(null); refresh(); }} /> : (
          <Empty title="Open a file">Choose a file in the Files pane, or create one with <strong>Add files</strong> → <strong>Create new file</strong>.</Empty>
        )}
      </div>
      {dialog?.kind === "file" && <CreateEntry folders={folders} home={here} onClose={() => setDialog(null)} onDone={(p) => { setDialog(null); refresh(); expandTo(p, setExpanded); openFile(p); }} />}
      {dialog?.kind === "folder" && <CreateEntry folder folders={folders} home={here} onClose={() => setDialog(null)} onDone={(p) => { setDialog(null); refresh(); expandTo(p + "/x", setExpanded); setCurrent(p); }} />}
      {dialog?.kind === "upload" && <Upload folders={folders} folder={here} existing={new Set((files.data ?? []).filter((f: any) => !f.isDirectory).map((f: any) => f.path as string))}
        onClose={() => setDialog(null)} onDone={(to) => { setDialog(null); refresh(); expandTo(to + "/x", setExpanded); setCurrent(to); }} />}
      {dialog?.kind === "rename" && dialog.path && <Rename path={dialog.path} onClose={() => setDialog(null)} onDone={(p) => { setDialog(null); refresh(); if (open === dialog.path) setOpen(p); if (current === dialog.path) setCurrent(p); }} />}
      {dialog?.kind === "delete" && dialog.path && <DeleteFile path={dialog.path} dir={!!(files.data ?? []).find((f: any) => f.path === dialog.path && f.isDirectory)} onClose={() => setDialog(null)} onDone={() => { setDialog(null); if (open?.startsWith(dialog.path!)) setOpen(null); refresh(); }} />}
    </section>
  );
}

function expandTo(path: string, set: (f: (s: Set<string>) => Set<string>) => void) {
  set((s) => {
    const n = new Set(s);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) n.add(parts.slice(0, i).join("/"));
    return n;
  });
}

function Node({ n, depth, expanded, toggle, open, onOpen, current, onFolder, onAction, reason }: {
  n: TreeNode; depth: number; expanded: Set<string>; toggle: (p: string) => void; open: string | null; onOpen: (p: string) => void;
  current: string; onFolder: (p: string) => void; onAction: (kind: "rename" | "delete", path: string) => void; reason: string | null;
}) {
  const isOpen = expanded.has(n.path);
  const mark = open === n.path || (n.dir && !open && current === n.path);
  return (
    <li role="treeitem" aria-expanded={n.dir ? isOpen : undefined} aria-selected={mark} data-path={n.path} data-current={n.dir && current === n.path ? "" : undefined}>
      <div className={"tree-row" + (mark ? " selected" : "") + (n.dir && current === n.path ? " current" : "")} style={{ paddingLeft: `${depth * 14 + 4}px` }}>
        <button type="button" className="tree-item" onClick={() => { if (n.dir) { toggle(n.path); onFolder(n.path); } else onOpen(n.path); }}>
          <span aria-hidden="true" className="icon">{n.dir ? (isOpen ? "▾" : "▸") : fileIcon(n.name)}</span> {n.name}
        </button>
        <span className="row-actions">
          <button type="button" className="btn ghost small" title={reason ?? `Rename ${n.name}`} aria-label={`Rename ${n.name}`} disabled={!!reason} onClick={() => onAction("rename", n.path)}>✎</button>
          <button type="button" className="btn ghost small" title={reason ?? `Delete ${n.name}`} aria-label={`Delete ${n.name}`} disabled={!!reason} onClick={() => onAction("delete", n.path)}>✕</button>
        </span>
      </div>
      {n.dir && isOpen && n.children.length > 0 && (
        <ul role="group">
          {n.children.map((c) => <Node key={c.path} n={c} depth={depth + 1} expanded={expanded} toggle={toggle} open={open} onOpen={onOpen} current={current} onFolder={onFolder} onAction={onAction} reason={reason} />)}
        </ul>
      )}
    </li>
  );
}

function fileIcon(name: string): string {
  if (name.endsWith(".ipynb")) return "◈";
  if (name.endsWith(".py")) return "≋";
  if (name.endsWith(".sh")) return "$";
  return "≡";
}

function FileView({ path, onDeleted }: { path: string; onDeleted: () => void }) {
  const w = useWorkspace();
  const reason = useWriteReason();
  const url = withVersion(`${wsPath(w)}/files/${encPath(path)}`);
  const q = useQuery({ queryKey: ["file", url], queryFn: () => request("GET", url).then((r) => r.text()), staleTime: Infinity, gcTime: 0 });
  const [text, setText] = useState<string | null>(null);
  const [saved, setSaved] = useState<string>("");
  const [err, setErr] = useState<unknown>(null);
  useEffect(() => {
    if (q.data != null) setText(q.data);
  }, [q.data]);
  const dirty = text != null && q.data != null && text !== q.data && saved !== text;
  const save = async () => {
    if (text == null || reason) return;
    setErr(null);
    try {
      await request("PUT", url, new Blob([text], { type: "application/octet-stream" }));
      setSaved(text);
    } catch (e) {
      setErr(e);
    }
  };
  void onDeleted;
  const notebook = path.endsWith(".ipynb");
  return (
    <div className="fileview">
      <div className="fileview-head">
        <h2 title={path}>{path.split("/").pop()}</h2>
        <span className="hint">{path}</span>
        <span className="spacer" />
        {notebook && <OpenInJupyter path={path} />}
        <Button primary reason={reason} onClick={save} title="Save (Ctrl+S)">Save</Button>
        <span role="status" className="save-state">{dirty ? "Unsaved changes" : saved && saved === text ? "Saved" : ""}</span>
      </div>
      <ErrorBox error={q.error ?? err} />
      {text == null ? <Spinner /> : (
        <Suspense fallback={<Spinner label="Loading the editor…" />}>
          <Editor path={path} value={text} onChange={setText} onSave={save} readOnly={!!reason} />
        </Suspense>
      )}
    </div>
  );
}

// OpenInJupyter opens a notebook in the Jupyter of a running instance of
// the user's, in a new tab (Jupyter is a whole application of its own;
// the studio session cookie signs the tab in).
function OpenInJupyter({ path }: { path: string }) {
  const w = useWorkspace();
  const me = useSession();
  const computes = useComputes(w);
  const mine = (computes.data ?? []).filter((c: any) => c.properties?.computeType === "ComputeInstance" &&
    (!c.properties.properties?.mlw?.assignedUser || c.properties.properties.mlw.assignedUser.objectId === me.user.objectId));
  const running = mine.filter((c: any) => computeState(c) === "Running");
  const [pick, setPick] = useState<string>("");
  const chosen = running.find((c: any) => c.name === pick) ?? running[0];
  const jupyter = chosen?.properties?.properties?.applications?.find((a: any) => a.displayName === "Jupyter");
  const reason = !mine.length ? "Create a compute instance to run notebooks." : !running.length ? "Start your compute instance to run notebooks." : !jupyter ? "Jupyter is not installed on this mlw host." : null;
  const href = jupyter ? String(jupyter.endpointUri).replace(/tree$/, "notebooks/" + encPath(path)) : "";
  return (
    <span className="open-jupyter">
      <label className="inline">
        <span className="sr">Compute</span>
        <select value={chosen?.name ?? ""} onChange={(e) => setPick(e.target.value)} aria-label="Compute instance" disabled={!running.length}>
          {running.length === 0 && <option value="">No running instance</option>}
          {running.map((c: any) => <option key={c.name} value={c.name}>{c.name}</option>)}
        </select>
      </label>
      {chosen && <Badge state={computeState(chosen)} />}
      {reason ? <Button reason={reason}>Open in Jupyter</Button> : <a className="btn" href={href} target="_blank" rel="noopener" data-open-jupyter>Open in Jupyter ↗</a>}
    </span>
  );
}

// CreateEntry is "Create new file" (with a file type) and "Create new
// folder": a location, a name, and the PUT that makes it.
function CreateEntry({ folder: isFolder, folders, home, onClose, onDone }: { folder?: boolean; folders: string[]; home: string; onClose: () => void; onDone: (p: string) => void }) {
  const w = useWorkspace();
  const noun = isFolder ? "Folder" : "File";
  const [folder, setFolder] = useState(home);
  const [type, setType] = useState(isFolder ? "" : fileTypes[0].ext);
  const [name, setName] = useState("");
  const [err, setErr] = useState<unknown>(null);
  const checked: ReturnType<typeof fileName> = name ? fileName(name, type) : {};
  const submit = async () => {
    if (!checked.name) return;
    const p = (folder ? folder + "/" : "") + checked.name;
    try {
      if (isFolder) await send("PUT", `${wsPath(w)}/files/${encPath(p)}?directory=true`);
      else await request("PUT", withVersion(`${wsPath(w)}/files/${encPath(p)}?overwrite=false`), new Blob([type === ".ipynb" ? emptyNotebook() : ""]));
      onDone(p);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Dialog title={`Create new ${noun.toLowerCase()}`} onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button primary disabled={!checked.name} onClick={submit}>Create</Button></>}>
      <Field label={`${noun} location`}>
        <select value={folder} onChange={(e) => setFolder(e.target.value)} aria-label={`${noun} location`}>
          {folders.map((f) => <option key={f} value={f}>{f || "(root)"}</option>)}
        </select>
      </Field>
      {!isFolder && (
        <Field label="File type">
          <select value={type} onChange={(e) => setType(e.target.value)} aria-label="File type">
            {fileTypes.map((t) => <option key={t.label} value={t.ext}>{t.label}</option>)}
          </select>
        </Field>
      )}
      <Field label={`${noun} name`} error={checked.error}>
        <input value={name} onChange={(e) => setName(e.target.value)} aria-label={`${noun} name`} onKeyDown={(e) => e.key === "Enter" && submit()} />
      </Field>
      <ErrorBox error={err} />
    </Dialog>
  );
}

// Upload is "Upload files": the files, and the folder they go to (the
// current folder unless another is picked). A file of the same name there
// is replaced only when the user says so; the others are uploaded with
// overwrite=false, so that one created meanwhile is not replaced either.
function Upload({ folders, folder, existing, onClose, onDone }: { folders: string[]; folder: string; existing: Set<string>; onClose: () => void; onDone: (folder: string) => void }) {
  const w = useWorkspace();
  const [to, setTo] = useState(folder);
  const [chosen, setChosen] = useState<File[]>([]);
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const path = (f: File) => (to ? to + "/" : "") + f.name;
  const clashes = chosen.filter((f) => existing.has(path(f)));
  const upload = async (replace: boolean) => {
    setBusy(true);
    setErr(null);
    try {
      for (const f of chosen) {
        const clash = existing.has(path(f));
        if (clash && !replace) continue;
        await request("PUT", withVersion(`${wsPath(w)}/files/${encPath(path(f))}?overwrite=${clash}`), f);
      }
      onDone(to);
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  const footer = asking ? (
    <>
      <Button onClick={() => setAsking(false)}>Back</Button>
      {clashes.length < chosen.length && <Button disabled={busy} onClick={() => upload(false)}>Keep the existing {clashes.length === 1 ? "file" : "files"}</Button>}
      <Button primary className="danger" disabled={busy} onClick={() => upload(true)}>Replace</Button>
    </>
  ) : (
    <>
      <Button onClick={onClose}>Cancel</Button>
      <Button primary disabled={!chosen.length || busy} onClick={() => (clashes.length ? setAsking(true) : upload(false))}>{busy ? "Uploading…" : "Upload"}</Button>
    </>
  );
  return (
    <Dialog title="Upload files" onClose={onClose} footer={footer}>
      {asking ? (
        <div className="warning" role="alert" data-clashes={clashes.map((f) => f.name).join(",")}>
          <p><strong>{clashes.length === 1 ? `${clashes[0].name} already exists` : `${clashes.length} files already exist`}</strong> in {to || "(root)"}. Replace {clashes.length === 1 ? "it" : "them"} with what you upload?</p>
          {clashes.length > 1 && <ul>{clashes.map((f) => <li key={f.name}>{f.name}</li>)}</ul>}
        </div>
      ) : (
        <>
          <Field label="Files to upload">
            <input type="file" multiple onChange={(e) => setChosen(Array.from(e.target.files ?? []))} aria-label="Files to upload" />
          </Field>
          <Field label="Upload to" hint="The folder chosen in the Files pane, unless you pick another.">
            <select value={to} onChange={(e) => setTo(e.target.value)} aria-label="Upload to">
              {folders.map((f) => <option key={f} value={f}>{f || "(root)"}</option>)}
            </select>
          </Field>
          {clashes.length > 0 && <p className="hint">{clashes.map((f) => f.name).join(", ")} already {clashes.length === 1 ? "exists" : "exist"} there; you will be asked before {clashes.length === 1 ? "it is" : "they are"} replaced.</p>}
        </>
      )}
      <ErrorBox error={err} />
    </Dialog>
  );
}

// Rename copies the file to its new name and deletes the old one (the
// file share has no rename call); folders are renamed file by file.
function Rename({ path, onClose, onDone }: { path: string; onClose: () => void; onDone: (p: string) => void }) {
  const w = useWorkspace();
  const qc = useQueryClient();
  const i = path.lastIndexOf("/");
  const dir = i < 0 ? "" : path.slice(0, i);
  const [name, setName] = useState(path.slice(i + 1));
  const [err, setErr] = useState<unknown>(null);
  const checked = fileName(name, "");
  const submit = async () => {
    if (!checked.name) return;
    const to = (dir ? dir + "/" : "") + checked.name;
    try {
      const all: any[] = (qc.getQueryData(["files", wsPath(w)]) as any[]) ?? [];
      const moves = all.filter((f) => !f.isDirectory && (f.path === path || f.path.startsWith(path + "/")));
      for (const f of moves) {
        const body = await (await request("GET", withVersion(`${wsPath(w)}/files/${encPath(f.path)}`))).blob();
        await request("PUT", withVersion(`${wsPath(w)}/files/${encPath(to + f.path.slice(path.length))}?overwrite=false`), body);
      }
      await send("DELETE", `${wsPath(w)}/files/${encPath(path)}?recursive=true`);
      onDone(to);
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Dialog title={`Rename ${path.slice(i + 1)}`} onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button primary disabled={!checked.name} onClick={submit}>Rename</Button></>}>
      <Field label="New name" error={checked.error}><input value={name} onChange={(e) => setName(e.target.value)} /></Field>
      <ErrorBox error={err} />
    </Dialog>
  );
}

function DeleteFile({ path, dir, onClose, onDone }: { path: string; dir: boolean; onClose: () => void; onDone: () => void }) {
  const w = useWorkspace();
  const [err, setErr] = useState<unknown>(null);
  const submit = async () => {
    try {
      await send("DELETE", `${wsPath(w)}/files/${encPath(path)}${dir ? "?recursive=true" : ""}`);
      onDone();
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Dialog title="Delete" onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button primary className="danger" onClick={submit}>Delete</Button></>}>
      <p>Delete <strong>{path}</strong>{dir ? " and everything in it" : ""}? This cannot be undone.</p>
      <ErrorBox error={err} />
    </Dialog>
  );
}
