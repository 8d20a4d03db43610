import { useEffect, useRef, useState } from "react";
import { Terminal as XTerm } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { enc, wsPath } from "../lib/api";
import { computeState, useDoc } from "../lib/queries";
import { useTitle } from "../lib/router";
import { useWorkspace } from "../session";
import { Badge, Button, ErrorBox, Link, Spinner } from "../ui";

// The instance's Terminal application: xterm.js over the terminal
// WebSocket (docs/instances.md: binary frames both ways, JSON text frames
// for resize; {"type":"exit"} when the shell ends). The studio session
// cookie authenticates it; the server checks the Origin.
export default function TerminalPage({ name }: { name: string }) {
  useTitle(`Terminal · ${name}`);
  const w = useWorkspace();
  const path = `${wsPath(w)}/computes/${enc(name)}`;
  const q = useDoc(path);
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<XTerm | null>(null);
  const sock = useRef<WebSocket | null>(null);
  const [status, setStatus] = useState<"connecting" | "connected" | "closed">("connecting");
  const [why, setWhy] = useState("");
  const [attempt, setAttempt] = useState(0);
  const app = q.data?.properties?.properties?.applications?.find((a: any) => a.displayName === "Terminal");
  const url: string | undefined = app?.endpointUri;

  useEffect(() => {
    if (!host.current) return;
    const dark = (document.documentElement.dataset.theme ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light")) === "dark";
    const t = new XTerm({
      cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      theme: dark ? { background: "#1e1e1e", foreground: "#e6e6e6" } : { background: "#ffffff", foreground: "#1b1b1b", cursor: "#1b1b1b", selectionBackground: "#b3d4fc" },
    });
    const fit = new FitAddon();
    t.loadAddon(fit);
    t.open(host.current);
    fit.fit();
    term.current = t;
    // Copy and paste: Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays the shell's interrupt).
    t.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === "KeyC") {
        const s = t.getSelection();
        if (s) void navigator.clipboard?.writeText(s);
        return false;
      }
      if (e.code === "KeyV") {
        void navigator.clipboard?.readText().then((x) => x && sendText(x));
        return false;
      }
      return true;
    });
    const sendText = (s: string) => {
      const ws = sock.current;
      if (ws?.readyState === WebSocket.OPEN) ws.send(new TextEncoder().encode(s));
    };
    const data = t.onData(sendText);
    const resize = t.onResize(({ cols, rows }) => {
      const ws = sock.current;
      if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    const obs = new ResizeObserver(() => fit.fit());
    obs.observe(host.current);
    return () => {
      obs.disconnect();
      data.dispose();
      resize.dispose();
      t.dispose();
      term.current = null;
    };
  }, []);

  useEffect(() => {
    const t = term.current;
    if (!url || !t) return;
    setStatus("connecting");
    setWhy("");
    const ws = new WebSocket(`${url}?cols=${t.cols}&rows=${t.rows}`);
    ws.binaryType = "arraybuffer";
    sock.current = ws;
    ws.onopen = () => {
      setStatus("connected");
      t.focus();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") {
        try {
          if (JSON.parse(ev.data).type === "exit") setWhy("The shell exited.");
        } catch {
          /* ignore */
        }
        return;
      }
      t.write(new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => {
      setStatus("closed");
      setWhy((w) => w || (ev.reason ? ev.reason : ev.code === 1006 ? "The connection was refused or lost (is the instance running, and is it assigned to you?)." : "Disconnected."));
    };
    return () => ws.close();
  }, [url, attempt]);

  const state = computeState(q.data);
  return (
    <section className="terminal-page">
      <div className="page-header">
        <h1>Terminal <span className="hint">· <Link to={`/ws/${w.sub}/${w.rg}/${w.ws}/compute/${name}`}>{name}</Link></span></h1>
        <div className="toolbar">
          {q.data && <Badge state={state} />}
          <span role="status" className={"conn " + status} data-status={status}>{status === "connected" ? "Connected" : status === "connecting" ? "Connecting…" : "Disconnected"}</span>
          <Button onClick={() => { const s = term.current?.getSelection(); if (s) void navigator.clipboard?.writeText(s); }} title="Copy the selection (Ctrl+Shift+C)">Copy</Button>
          <Button onClick={() => void navigator.clipboard?.readText().then((x) => x && sock.current?.send(new TextEncoder().encode(x)))} title="Paste (Ctrl+Shift+V)">Paste</Button>
          <Button icon="⟳" reason={status === "connected" ? "Connected." : null} onClick={() => setAttempt(attempt + 1)}>Reconnect</Button>
        </div>
      </div>
      <ErrorBox error={q.error} />
      {q.isPending && <Spinner />}
      {q.data && state !== "Running" && <ErrorBox error={`The instance is ${state}; start it to open a terminal.`} />}
      {status === "closed" && why && <div className="notice" role="status">{why} Select <strong>Reconnect</strong> for a new shell.</div>}
      <div className="term" ref={host} aria-label="Terminal" />
    </section>
  );
}
