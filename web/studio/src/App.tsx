import { lazy, Suspense, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, parseWorkspaceId, session as sessionApi, setCsrfToken, type SessionInfo, type Workspace } from "./lib/api";
import { href, match, navigate, useLocation } from "./lib/router";
import { SessionContext, WorkspaceContext } from "./session";
import { ErrorBox, Field, Link, Spinner } from "./ui";
import { Home } from "./pages/Home";
import { ResourceGroups } from "./pages/ResourceGroups";
import { Compute, ComputeDetails } from "./pages/Compute";
import { Jobs, JobPage } from "./pages/Jobs";
import { EnvironmentPage, Environments } from "./pages/Environments";

const Notebooks = lazy(() => import("./pages/Notebooks"));
const TerminalPage = lazy(() => import("./pages/Terminal"));
const CompareRuns = lazy(() => import("./pages/Metrics").then((m) => ({ default: m.CompareRuns })));

export function App() {
  const q = useQuery({ queryKey: ["session"], queryFn: sessionApi.get, retry: false, staleTime: 60_000 });
  useTheme();
  if (q.isPending) return <Spinner label="Opening the studio…" />;
  if (q.error) {
    if (q.error instanceof ApiError && q.error.status === 401) return <SignIn />;
    return <ErrorBox error={q.error} />;
  }
  setCsrfToken(q.data.csrfToken);
  return (
    <SessionContext.Provider value={q.data}>
      <Shell me={q.data} />
    </SessionContext.Provider>
  );
}

function useTheme(): void {
  useEffect(() => {
    const t = localStorage.getItem("mlw-theme");
    if (t) document.documentElement.dataset.theme = t;
  }, []);
}

function toggleTheme(): void {
  const cur = document.documentElement.dataset.theme ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  const next = cur === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("mlw-theme", next);
}

function SignIn() {
  const qc = useQueryClient();
  const [user, setUser] = useState("");
  const [pw, setPw] = useState("");
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      await sessionApi.signIn(user, pw);
      await qc.invalidateQueries();
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form onSubmit={submit} aria-label="Sign in">
        <h1><span className="logo" aria-hidden="true">◆</span> mlw studio</h1>
        <p>Sign in with your user name and password.</p>
        <Field label="User name">
          <input name="username" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required />
        </Field>
        <Field label="Password">
          <input name="password" type="password" autoComplete="current-password" value={pw} onChange={(e) => setPw(e.target.value)} required />
        </Field>
        <ErrorBox error={err} />
        <button className="btn primary" type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
        <p className="hint">
          No password? Run <code>mlw studio</code> on a machine where the mlw CLI is signed in: it opens a one-time sign-in link.
          An Owner sets passwords with <code>mlw user set-password</code>.
        </p>
      </form>
    </main>
  );
}

const nav = [
  { id: "home", label: "Home", icon: "⌂" },
  { id: "notebooks", label: "Notebooks", icon: "✎" },
  { id: "compute", label: "Compute", icon: "▣" },
  { id: "jobs", label: "Jobs", icon: "⚗" },
  { id: "environments", label: "Environments", icon: "◫" },
];

function Shell({ me }: { me: SessionInfo }) {
  const { path, query } = useLocation();
  const [navOpen, setNavOpen] = useState(false);
  const w = match("/ws/:sub/:rg/:ws/*", path) ?? match("/ws/:sub/:rg/:ws", path);
  const ws: Workspace | null = w ? { sub: w.sub, rg: w.rg, ws: w.ws } : null;
  const rest = w?.["*"] ?? "";
  const section = rest.split("/")[0] || "home";
  // Comparing runs is part of Jobs (as in Azure ML studio).
  const navSection = section === "compare" ? "jobs" : section;
  useEffect(() => setNavOpen(false), [path]);

  let page: ReactNode;
  const runs = match("/runs/:name", path);
  if (runs) {
    const target = parseWorkspaceId(query.get("wsid") ?? "");
    page = <Redirect to={target ? `/ws/${target.sub}/${target.rg}/${target.ws}/jobs/${runs.name}` : "/"} />;
  } else if (match("/resource-groups", path)) page = <ResourceGroups />;
  else if (!ws) page = <Home />;
  else {
    const parts = rest.split("/");
    if (section === "notebooks") page = <Notebooks />;
    else if (section === "compute" && parts[1] && parts[2] === "terminal") page = <TerminalPage name={parts[1]} />;
    else if (section === "compute" && parts[1]) page = <ComputeDetails name={parts[1]} />;
    else if (section === "compute") page = <Compute tab={query.get("tab") ?? "instances"} />;
    else if (section === "jobs" && parts[1]) page = <JobPage name={parts[1]} />;
    else if (section === "jobs") page = <Jobs />;
    else if (section === "compare") page = <CompareRuns />;
    else if (section === "environments" && parts[1]) page = <EnvironmentPage name={parts[1]} />;
    else if (section === "environments") page = <Environments />;
    else page = <Home ws={ws} />;
  }
  // Sign-out ends the session, then loads the studio afresh: the sign-in
  // page, with nothing of the session left in memory (cached answers, the
  // CSRF token). Clearing the query cache instead left the page as it was.
  const signOut = async () => {
    try {
      await sessionApi.signOut();
    } finally {
      location.replace(href("/"));
    }
  };
  return (
    <WorkspaceContext.Provider value={ws}>
      <div className={"shell" + (navOpen ? " nav-open" : "")}>
        <header className="topbar">
          <button type="button" className="btn ghost navtoggle" aria-label="Menu" aria-expanded={navOpen} onClick={() => setNavOpen(!navOpen)}>☰</button>
          <Link to="/" className="brand"><span className="logo" aria-hidden="true">◆</span> mlw studio</Link>
          {ws && (
            <nav className="crumbs" aria-label="Workspace">
              <Link to="/resource-groups">{ws.rg}</Link> <span aria-hidden="true">›</span> <Link to={`/ws/${ws.sub}/${ws.rg}/${ws.ws}`}>{ws.ws}</Link>
            </nav>
          )}
          <span className="spacer" />
          <Link to="/resource-groups" className="toplink">Resource groups</Link>
          <button type="button" className="btn ghost" onClick={toggleTheme} aria-label="Switch between light and dark theme" title="Light or dark theme">◐</button>
          <span className="me" title={`Signed in as ${me.user.name} (${me.user.role})`}>
            <span className="avatar" aria-hidden="true">{me.user.name.slice(0, 1).toUpperCase()}</span>
            <span className="me-name">{me.user.name}</span> <span className="role">{me.user.role}</span>
          </span>
          {me.kind === "cookie" && <button type="button" className="btn ghost" onClick={signOut}>Sign out</button>}
        </header>
        <nav className="sidenav" aria-label="Studio">
          {nav.map((n) =>
            ws ? (
              <Link key={n.id} to={`/ws/${ws.sub}/${ws.rg}/${ws.ws}${n.id === "home" ? "" : "/" + n.id}`} className={navSection === n.id ? "navitem active" : "navitem"} aria-current={navSection === n.id ? "page" : undefined}>
                <span className="icon" aria-hidden="true">{n.icon}</span> {n.label}
              </Link>
            ) : (
              <span key={n.id} className={"navitem off" + (n.id === "home" ? " active" : "")} title="Open a workspace first">
                <span className="icon" aria-hidden="true">{n.icon}</span> {n.label}
              </span>
            ),
          )}
        </nav>
        <main className="content" id="main">
          <Suspense fallback={<Spinner />}>{page}</Suspense>
        </main>
      </div>
    </WorkspaceContext.Provider>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return <Spinner />;
}
