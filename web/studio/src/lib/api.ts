// The studio's client of mlw's public HTTP API (the same one the CLI and
// the azure-ai-ml SDK use). The browser sends the studio session cookie;
// writes carry the session's CSRF token (X-Mlw-Csrf).

export interface SessionInfo {
  user: { name: string; objectId: string; role: string; tenantId: string };
  canWrite: boolean;
  isOwner: boolean;
  csrfToken?: string;
  kind: "cookie" | "token";
}

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public target?: string) {
    super(message);
  }
}

let csrf = "";
export function setCsrfToken(t: string | undefined): void {
  csrf = t ?? "";
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = "Error" + res.status;
  let msg = res.statusText || "The server refused the request.";
  let target: string | undefined;
  try {
    const b = await res.json();
    if (b?.error) {
      code = b.error.code ?? code;
      msg = b.error.message ?? msg;
      target = b.error.target;
    } else if (b?.error_code) {
      // MLflow's shape, under /mlflow/ (docs/mlflow.md).
      code = b.error_code;
      msg = b.message ?? msg;
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, msg, target);
}

export async function request(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") headers.set("Content-Type", "application/json");
  if (method !== "GET" && method !== "HEAD" && csrf) headers.set("X-Mlw-Csrf", csrf);
  const res = await fetch(path, {
    ...init,
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : body instanceof Blob || typeof body === "string" ? body : JSON.stringify(body),
  });
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function getJSON<T = any>(path: string): Promise<T> {
  return (await request("GET", withVersion(path))).json();
}

export async function send<T = any>(method: string, path: string, body?: unknown): Promise<T | null> {
  const res = await request(method, withVersion(path), body);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const apiVersion = "2024-10-01";

// withVersion adds api-version to ARM paths (any version is accepted).
export function withVersion(path: string): string {
  if (!path.startsWith("/subscriptions") || path.includes("api-version=")) return path;
  return path + (path.includes("?") ? "&" : "?") + "api-version=" + apiVersion;
}

export const session = {
  get: () => getJSON<SessionInfo>("/mlw/v1/session"),
  signIn: (username: string, password: string) => send<SessionInfo>("POST", "/mlw/v1/session", { username, password }),
  signOut: () => send("DELETE", "/mlw/v1/session"),
};

export const provider = "providers/Microsoft.MachineLearningServices";

// Workspace identifies a workspace by its ARM path parts.
export interface Workspace {
  sub: string;
  rg: string;
  ws: string;
}

export function wsPath(w: Workspace): string {
  return `/subscriptions/${enc(w.sub)}/resourceGroups/${enc(w.rg)}/${provider}/workspaces/${enc(w.ws)}`;
}

export function enc(s: string): string {
  return encodeURIComponent(s);
}

// encPath escapes each segment of a slash-separated path.
export function encPath(p: string): string {
  return p.split("/").map(encodeURIComponent).join("/");
}

// parseWorkspaceId reads an ARM id of a workspace (or anything in one).
export function parseWorkspaceId(id: string): Workspace | null {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.MachineLearningServices\/workspaces\/([^/?#]+)/i.exec(id);
  if (!m) return null;
  return { sub: decodeURIComponent(m[1]), rg: decodeURIComponent(m[2]), ws: decodeURIComponent(m[3]) };
}

export interface ArmList<T = any> {
  value: T[];
  nextLink?: string | null;
}

// listAll follows nextLink (same origin) to the end.
export async function listAll<T = any>(path: string, max = 5000): Promise<T[]> {
  const out: T[] = [];
  let next: string | null | undefined = withVersion(path);
  while (next && out.length < max) {
    const page: ArmList<T> = await (await request("GET", sameOrigin(next))).json();
    out.push(...page.value);
    next = page.nextLink;
  }
  return out;
}

export function sameOrigin(url: string): string {
  try {
    const u = new URL(url, location.origin);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
