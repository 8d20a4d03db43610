// A job's files in workspace storage, read as the SDK reads them (a
// datastore's SAS and the Blob API): its code snapshot as a tree with a
// viewer, and its outputs (artifacts and named outputs) to download.
// Loaded with the job page's Code and Outputs tabs.
import { lazy, Suspense, useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { enc, getJSON, wsPath } from "../lib/api";
import { blobUrl, containerOf, formatBytes, listBlobs, parseCodeId, parseStorageUri, readBlobText, type BlobItem, type Container } from "../lib/blob";
import { buildTree, isMoving, type TreeNode } from "../lib/util";
import { useWorkspace } from "../session";
import { FileTree } from "../FileTree";
import { Empty, ErrorBox, Spinner } from "../ui";

const Editor = lazy(() => import("../Editor").then((m) => ({ default: m.Editor })));

const relist = 30 * 60_000;

interface Listing {
  container: Container;
  prefix: string; // ends with "/" (or is "")
  items: BlobItem[];
}

function folderPrefix(p: string): string {
  const s = p.replace(/^\/+/, "");
  return s === "" || s.endsWith("/") ? s : s + "/";
}

function treeOf(l: Listing, skip?: (rel: string) => boolean): TreeNode {
  return buildTree(l.items
    .map((b) => ({ path: b.name.slice(l.prefix.length), isDirectory: false, size: b.size }))
    .filter((f) => f.path && !f.path.endsWith("/") && !skip?.(f.path)));
}

function Download({ l, n }: { l: Listing; n: TreeNode }) {
  return (
    <a className="download" href={blobUrl(l.container, l.prefix + n.path)} download={n.name} aria-label={`Download ${n.path}`} title={`Download ${n.name}`}>
      <span className="hint">{formatBytes(n.size ?? 0)}</span> ⤓
    </a>
  );
}

// JobCode shows the job's code snapshot: the folder of its code version's
// codeUri.
export function JobCode({ job }: { job: any }) {
  const w = useWorkspace();
  const codeId: string = job.properties?.codeId ?? "";
  const q = useQuery({
    queryKey: ["job-code", wsPath(w), codeId],
    enabled: !!codeId,
    // Listed again now and then: the download links carry a SAS that
    // lasts an hour.
    staleTime: relist,
    refetchInterval: relist,
    queryFn: async (): Promise<Listing> => {
      const id = parseCodeId(codeId);
      if (!id) throw new Error(`The job's codeId ${codeId} names no code version the studio understands.`);
      const v = await getJSON(`${wsPath(w)}/codes/${enc(id.name)}/versions/${enc(id.version)}`);
      const uri: string = v.properties?.codeUri ?? "";
      const ref = parseStorageUri(uri);
      if (!ref) throw new Error(`The code's codeUri ${uri || "(none)"} is not in this workspace's storage.`);
      const container = await containerOf(w, ref);
      const prefix = folderPrefix(ref.path);
      return { container, prefix, items: await listBlobs(container, prefix) };
    },
  });
  const [sel, setSel] = useState<TreeNode | null>(null);
  const tree = useMemo(() => (q.data ? treeOf(q.data) : null), [q.data]);
  if (!codeId) return <Empty title="No code snapshot">This job ran its command without a code folder (its YAML has no <code>code:</code>).</Empty>;
  if (q.isPending) return <Spinner label="Reading the code snapshot…" />;
  if (q.error) return <ErrorBox error={q.error} />;
  const l = q.data;
  return (
    <div className="codeview" aria-label="Code snapshot">
      <aside className="files">
        <div className="files-head"><h2>Code</h2><span className="hint">{l.items.length} file(s)</span></div>
        {tree && tree.children.length > 0 ? (
          <FileTree root={tree} label="Code snapshot" selected={sel?.path} onOpen={setSel} actions={(n) => <Download l={l} n={n} />} />
        ) : <Empty title="The snapshot is empty">The code version's folder holds no files.</Empty>}
      </aside>
      <div className="editor-pane">
        {sel ? <BlobView key={sel.path} l={l} n={sel} /> : <Empty title="Open a file">Choose a file of the snapshot to read it.</Empty>}
      </div>
    </div>
  );
}

function BlobView({ l, n }: { l: Listing; n: TreeNode }) {
  const q = useQuery({ queryKey: ["blob-text", l.container.base, l.prefix + n.path], staleTime: Infinity, queryFn: () => readBlobText(l.container, l.prefix + n.path, n.size ?? 0) });
  return (
    <div className="fileview">
      <div className="fileview-head">
        <h2 title={n.path}>{n.name}</h2>
        <span className="hint">{n.path}</span>
        <span className="spacer" />
        <a className="btn" href={blobUrl(l.container, l.prefix + n.path)} download={n.name}>⤓ Download</a>
      </div>
      <ErrorBox error={q.error} />
      {q.isPending ? <Spinner /> : q.data?.why ? <Empty title="Not shown">{q.data.why}</Empty> : (
        <Suspense fallback={<Spinner label="Loading the viewer…" />}>
          <Editor path={n.path} value={q.data?.text ?? ""} onChange={() => {}} onSave={() => {}} readOnly />
        </Suspense>
      )}
    </div>
  );
}

// logDirs are the artifact folders the log viewer shows.
const logDirs = ["user_logs/", "system_logs/", "azureml-logs/"];
const skipLogs = (p: string) => logDirs.some((d) => p.startsWith(d));

// JobOutputs lists what the job left: its artifacts (./outputs and ./logs,
// the default output) and each named output, every file downloadable.
export function JobOutputs({ job }: { job: any }) {
  const outputs: Record<string, any> = job.properties?.outputs ?? {};
  const names = Object.keys(outputs).filter((k) => k !== "default").sort();
  const running = isMoving(job.properties?.status);
  return (
    <section className="panel outputs" aria-label="Outputs">
      <h2>Outputs</h2>
      {running && <p className="hint">Outputs are saved when the job ends: ./outputs and ./logs become its artifacts, and named outputs are written where they point.</p>}
      <OutputTree title="Artifacts (./outputs and ./logs)" id="default" uri={outputs.default?.uri} status={job.properties?.status} skip={skipLogs} />
      {names.map((k) => <OutputTree key={k} title={`Named output ${k}`} id={k} uri={outputs[k]?.uri} status={job.properties?.status} />)}
    </section>
  );
}

function OutputTree({ title, id, uri, status, skip }: { title: string; id: string; uri?: string; status?: string; skip?: (rel: string) => boolean }) {
  const w = useWorkspace();
  const q = useQuery({
    queryKey: ["job-output", wsPath(w), uri, status],
    enabled: !!uri,
    refetchInterval: relist,
    queryFn: async (): Promise<Listing> => {
      const ref = parseStorageUri(uri!);
      if (!ref) throw new Error(`The output ${id} is at ${uri}, outside this workspace's storage; the studio cannot list it.`);
      const container = await containerOf(w, ref);
      const prefix = folderPrefix(ref.path);
      return { container, prefix, items: await listBlobs(container, prefix) };
    },
  });
  const tree = useMemo(() => (q.data ? treeOf(q.data, skip) : null), [q.data, skip]);
  return (
    <div className="output" data-output={id}>
      <h3>{title}</h3>
      {uri && <div className="hint uri">{uri}</div>}
      {!uri ? <p className="hint">No location.</p> : q.isPending ? <Spinner /> : q.error ? <ErrorBox error={q.error} /> :
        tree && tree.children.length > 0 ? <FileTree root={tree} label={title} actions={(n) => <Download l={q.data!} n={n} />} /> :
          <p className="hint" role="status">{isMoving(status) ? "Nothing yet." : "Empty: the job wrote no files here."}</p>}
    </div>
  );
}
