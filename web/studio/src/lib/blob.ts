// Workspace storage as the azure-ai-ml SDK and `mlw job download` reach it:
// a datastore's container (GET datastores/{name}), a SAS for it (POST
// …/listSecrets), then the server's Blob API (/blob/{account}/{container})
// to list and fetch blobs. Jobs' code snapshots and outputs live there.
import { encPath, enc, getJSON, listAll, send, wsPath, type Workspace } from "./api";

export interface BlobItem {
  name: string;
  size: number;
  lastModified?: string;
}

// A place in storage: a datastore and a path, or an account's container
// and a path (a blob URL of this server).
export interface StorageRef {
  datastore?: string;
  account?: string;
  container?: string;
  path: string;
}

// parseStorageUri reads the forms a code version's codeUri and a job's
// outputs use: azureml://datastores/<ds>/paths/<p> (and the artifact form
// without paths/), https://<server>/blob/<account>/<container>/<p>, and
// https://<account>.blob.core.windows.net/<container>/<p>.
export function parseStorageUri(uri: string): StorageRef | null {
  const ds = /^azureml:\/\/datastores\/([^/]+)\/?(.*)$/i.exec(uri);
  if (ds) return { datastore: decodeURIComponent(ds[1]), path: ds[2].replace(/^paths\//, "") };
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return null;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return null;
  const parts = u.pathname.split("/").filter((_, i) => i > 0).map(decodeURIComponent);
  if (parts[0] === "blob" && parts.length >= 3) return { account: parts[1], container: parts[2], path: parts.slice(3).join("/") };
  const host = /^([^.]+)\.blob\.core\.windows\.net$/i.exec(u.hostname);
  if (host && parts.length >= 1) return { account: host[1], container: parts[0], path: parts.slice(1).join("/") };
  return null;
}

// parseCodeId reads a job's codeId: an ARM id of a code version
// (…/codes/<name>/versions/<v>, with or without azureml:) or name:version.
export function parseCodeId(id: string): { name: string; version: string } | null {
  const s = id.trim().replace(/^azureml:/i, "");
  const arm = /\/codes\/([^/]+)\/versions\/([^/?#]+)$/i.exec(s);
  if (arm) return { name: decodeURIComponent(arm[1]), version: decodeURIComponent(arm[2]) };
  const m = /^([^:/]+):([^:/]+)$/.exec(s);
  return m ? { name: m[1], version: m[2] } : null;
}

// parseBlobList reads one page of the Blob API's List Blobs answer.
export function parseBlobList(xml: string): { items: BlobItem[]; next: string } {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const items: BlobItem[] = [];
  for (const b of Array.from(doc.getElementsByTagName("Blob"))) {
    const text = (tag: string) => b.getElementsByTagName(tag)[0]?.textContent ?? "";
    items.push({ name: text("Name"), size: Number(text("Content-Length") || 0), lastModified: text("Last-Modified") || undefined });
  }
  return { items, next: doc.getElementsByTagName("NextMarker")[0]?.textContent ?? "" };
}

// accountPath turns a datastore's accountName into the path of its Blob
// API on this server: mlw reports "HOST:PORT/blob/ACCOUNT/?x=" (which
// points the SDK here); a plain name is an account of this server too.
export function accountPath(accountName: string): string {
  const a = accountName.replace(/\?.*$/, "").replace(/\/+$/, "");
  const i = a.indexOf("/blob/");
  return i >= 0 ? a.slice(i) : "/blob/" + a;
}

// Container is a blob container the studio may read, with its SAS.
export interface Container {
  datastore: string;
  base: string; // /blob/<account>/<container>
  sas: string;
}

export function blobUrl(c: Container, name: string): string {
  return `${c.base}/${encPath(name)}?${c.sas}`;
}

const containers = new Map<string, { p: Promise<Container>; at: number }>();

// sasReuse is how long a SAS is reused: it is asked for one hour (as
// azure-ai-ml asks), so that a download link copied out of the page
// soon stops working.
const sasReuse = 45 * 60_000;

// datastoreContainer resolves a datastore to its container and a SAS
// (reused for a while per datastore).
export function datastoreContainer(w: Workspace, name: string): Promise<Container> {
  const key = wsPath(w).toLowerCase() + "|" + name.toLowerCase();
  const hit = containers.get(key);
  if (hit && Date.now() - hit.at < sasReuse) return hit.p;
  const p = (async () => {
    const path = `${wsPath(w)}/datastores/${enc(name)}`;
    const ds = await getJSON(path);
    const props = ds.properties ?? {};
    if (!props.accountName || !props.containerName) throw new Error(`The datastore ${name} has no blob container, so the studio cannot read it.`);
    const sec = await send("POST", path + "/listSecrets", { expirableSecret: true, expireAfterHours: 1 });
    const sas = String(sec?.sasToken ?? "").replace(/^\?/, "");
    if (!sas) throw new Error(`The datastore ${name} gave no SAS token; the studio reads storage with one.`);
    return { datastore: ds.name ?? name, base: `${accountPath(props.accountName)}/${enc(props.containerName)}`, sas };
  })();
  p.catch(() => containers.delete(key));
  containers.set(key, { p, at: Date.now() });
  return p;
}

// containerOf finds the container of a storage reference: a datastore's,
// or the datastore of the workspace that names the account's container.
export async function containerOf(w: Workspace, ref: StorageRef): Promise<Container> {
  if (ref.datastore) return datastoreContainer(w, ref.datastore);
  const all = await listAll(`${wsPath(w)}/datastores`);
  const ds = all.find((d: any) => d.properties?.containerName === ref.container && accountPath(String(d.properties?.accountName ?? "")).endsWith("/" + ref.account));
  if (!ds) throw new Error(`The container ${ref.container} of account ${ref.account} belongs to no datastore of this workspace, so the studio cannot read it.`);
  return datastoreContainer(w, ds.name);
}

// listBlobs lists every blob under prefix (following NextMarker).
export async function listBlobs(c: Container, prefix: string, max = 5000): Promise<BlobItem[]> {
  const out: BlobItem[] = [];
  let marker = "";
  do {
    const q = `restype=container&comp=list&prefix=${enc(prefix)}${marker ? "&marker=" + enc(marker) : ""}&${c.sas}`;
    const res = await fetch(`${c.base}?${q}`, { credentials: "omit", headers: { "x-ms-version": "2021-12-02" } });
    if (!res.ok) throw new Error(`Listing ${prefix || "the container"} failed (${res.status}): ${blobError(await res.text())}`);
    const page = parseBlobList(await res.text());
    out.push(...page.items);
    marker = page.next;
  } while (marker && out.length < max);
  return out;
}

// readBlobText reads up to limit bytes of a blob as text; binary files
// (a NUL byte in them) and larger ones are not read.
export async function readBlobText(c: Container, name: string, size: number, limit = 1 << 20): Promise<{ text?: string; why?: string }> {
  if (size > limit) return { why: `This file is ${formatBytes(size)}; the studio shows files up to ${formatBytes(limit)}. Download it instead.` };
  const res = await fetch(blobUrl(c, name), { credentials: "omit", headers: { "x-ms-version": "2021-12-02" } });
  if (!res.ok) throw new Error(`Reading ${name} failed (${res.status}): ${blobError(await res.text())}`);
  const buf = new Uint8Array(await res.arrayBuffer());
  if (buf.subarray(0, 8000).includes(0)) return { why: "This is a binary file; download it to open it." };
  return { text: new TextDecoder().decode(buf) };
}

function blobError(body: string): string {
  const m = /<Message>([\s\S]*?)<\/Message>/.exec(body);
  return m ? m[1].split("\n")[0] : body.slice(0, 200);
}

export function formatBytes(n: number): string {
  if (!isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
