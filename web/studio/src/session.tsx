// The signed-in user, for every page: their role decides which actions
// are enabled (and why not).
import { createContext, useContext } from "react";
import type { SessionInfo, Workspace } from "./lib/api";
import { writeReason } from "./lib/util";

export const SessionContext = createContext<SessionInfo | null>(null);
export const WorkspaceContext = createContext<Workspace | null>(null);

export function useSession(): SessionInfo {
  const s = useContext(SessionContext);
  if (!s) throw new Error("no session");
  return s;
}

export function useWorkspace(): Workspace {
  const w = useContext(WorkspaceContext);
  if (!w) throw new Error("no workspace");
  return w;
}

// useWriteReason is null when the user may change things, else why not.
export function useWriteReason(): string | null {
  return writeReason(useSession().user.role);
}
