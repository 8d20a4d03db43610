// Queries shared by the pages. They stay live without reloading: a watch
// (server-sent events from GET /mlw/v1/watch, which re-reads the same API
// call every 250 ms) says when an answer changed, and the query fetches it
// again; a slow poll remains as a fallback. The Jobs list, which can be
// long, polls instead: every second while a job on the page is moving.
import { useEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { getJSON, listAll, provider, withVersion, wsPath, type Workspace } from "./api";
import { isMoving } from "./util";

export function live(pick: (d: any) => (string | undefined)[]) {
  return (q: { state: { data: any } }) => {
    const d = q.state.data;
    if (!d) return 2000;
    return pick(d).some(isMoving) ? 1000 : 5000;
  };
}

// fallbackPoll is how often watched queries refetch anyway.
export const fallbackPoll = 15_000;

// useWatch refetches the queries under key whenever the answer to GET path
// changes on the server.
export function useWatch(path: string | null | undefined, key: readonly unknown[]): void {
  const qc = useQueryClient();
  const k = JSON.stringify(key);
  useEffect(() => {
    if (!path || typeof EventSource === "undefined") return;
    const es = new EventSource("/mlw/v1/watch?path=" + encodeURIComponent(withVersion(path)));
    es.addEventListener("change", () => void qc.invalidateQueries({ queryKey: JSON.parse(k) }));
    return () => es.close();
  }, [path, k, qc]);
}

export function useSubscriptions() {
  return useQuery({ queryKey: ["subscriptions"], queryFn: () => listAll("/subscriptions"), staleTime: 60_000 });
}

export function useGroups(sub: string | undefined) {
  useWatch(sub && `/subscriptions/${sub}/resourcegroups`, ["groups", sub]);
  return useQuery({
    queryKey: ["groups", sub],
    enabled: !!sub,
    queryFn: () => listAll(`/subscriptions/${sub}/resourcegroups`),
    refetchInterval: fallbackPoll,
  });
}

export function useWorkspaces(sub: string | undefined, rg?: string) {
  const path = rg ? `/subscriptions/${sub}/resourceGroups/${rg}/${provider}/workspaces` : `/subscriptions/${sub}/${provider}/workspaces`;
  useWatch(sub && path, ["workspaces", sub, rg ?? ""]);
  return useQuery({
    queryKey: ["workspaces", sub, rg ?? ""],
    enabled: !!sub,
    queryFn: () => listAll(path),
    refetchInterval: fallbackPoll,
  });
}

export function useWorkspaceDoc(w: Workspace) {
  return useQuery({ queryKey: ["workspace", wsPath(w)], queryFn: () => getJSON(wsPath(w)), staleTime: 30_000 });
}

export function computeState(c: any): string | undefined {
  const p = c?.properties;
  if (p?.computeType === "ComputeInstance") return p?.properties?.state;
  return p?.provisioningState === "Succeeded" ? p?.properties?.allocationState : p?.provisioningState;
}

export function useComputes(w: Workspace) {
  useWatch(wsPath(w) + "/computes", ["computes", wsPath(w)]);
  return useQuery({
    queryKey: ["computes", wsPath(w)],
    queryFn: () => listAll(wsPath(w) + "/computes"),
    refetchInterval: fallbackPoll,
  });
}

// useDoc is one watched API document.
export function useDoc(path: string) {
  useWatch(path, ["doc", path]);
  return useQuery({ queryKey: ["doc", path], queryFn: () => getJSON(path), refetchInterval: fallbackPoll });
}

export function useUsers() {
  return useQuery({ queryKey: ["users"], queryFn: () => getJSON("/mlw/v1/users").then((d) => d.value as any[]), staleTime: 60_000 });
}
