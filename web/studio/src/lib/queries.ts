// Queries shared by the pages. Lists refresh on their own: every second
// while something in them is changing state, every 5 s otherwise.
import { useQuery } from "@tanstack/react-query";
import { getJSON, listAll, provider, wsPath, type Workspace } from "./api";
import { isMoving } from "./util";

export function live(pick: (d: any) => (string | undefined)[]) {
  return (q: { state: { data: any } }) => {
    const d = q.state.data;
    if (!d) return 2000;
    return pick(d).some(isMoving) ? 1000 : 5000;
  };
}

export function useSubscriptions() {
  return useQuery({ queryKey: ["subscriptions"], queryFn: () => listAll("/subscriptions"), staleTime: 60_000 });
}

export function useGroups(sub: string | undefined) {
  return useQuery({
    queryKey: ["groups", sub],
    enabled: !!sub,
    queryFn: () => listAll(`/subscriptions/${sub}/resourcegroups`),
    refetchInterval: live((d) => d.map((g: any) => g.properties?.provisioningState)),
  });
}

export function useWorkspaces(sub: string | undefined, rg?: string) {
  return useQuery({
    queryKey: ["workspaces", sub, rg ?? ""],
    enabled: !!sub,
    queryFn: () => listAll(rg ? `/subscriptions/${sub}/resourceGroups/${rg}/${provider}/workspaces` : `/subscriptions/${sub}/${provider}/workspaces`),
    refetchInterval: live((d) => d.map((w: any) => w.properties?.provisioningState)),
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
  return useQuery({
    queryKey: ["computes", wsPath(w)],
    queryFn: () => listAll(wsPath(w) + "/computes"),
    refetchInterval: live((d) => d.map(computeState)),
  });
}

export function useUsers() {
  return useQuery({ queryKey: ["users"], queryFn: () => getJSON("/mlw/v1/users").then((d) => d.value as any[]), staleTime: 60_000 });
}
