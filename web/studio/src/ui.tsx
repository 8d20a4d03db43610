// Small building blocks shared by the pages.
import { useEffect, useRef, useState, type ButtonHTMLAttributes, type KeyboardEvent, type ReactNode, type Ref } from "react";
import { href, navigate } from "./lib/router";
import { stateTone } from "./lib/util";
import { ApiError } from "./lib/api";

// Button is disabled with a reason (shown as its tooltip and to screen
// readers) rather than hidden: a Reader sees what exists and why not.
export function Button(props: ButtonHTMLAttributes<HTMLButtonElement> & { reason?: string | null; primary?: boolean; icon?: string; ref?: Ref<HTMLButtonElement> }) {
  const { reason, primary, icon, className, children, disabled, title, ...rest } = props;
  const off = disabled || !!reason;
  return (
    <button
      type="button"
      {...rest}
      className={["btn", primary ? "primary" : "", className ?? ""].join(" ")}
      disabled={off}
      title={reason ?? title}
      aria-disabled={off || undefined}
      data-reason={reason ?? undefined}
    >
      {icon && <span aria-hidden="true" className="icon">{icon}</span>}
      {children}
    </button>
  );
}

export function Link({ to, children, className, ...rest }: { to: string; children: ReactNode; className?: string; [k: string]: unknown }) {
  return (
    <a
      href={href(to)}
      className={className}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
      {...rest}
    >
      {children}
    </a>
  );
}

export function Badge({ state }: { state?: string }) {
  return <span className={"badge " + stateTone(state)} data-state={state}>{state || "—"}</span>;
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <strong>{title}</strong>
      {children && <div>{children}</div>}
    </div>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : "";
  return (
    <div className="error" role="alert">
      {code && <strong>{code}: </strong>}
      {msg}
    </div>
  );
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return <div className="spinner" role="status" aria-live="polite">{label}</div>;
}

// focusable finds what Tab can reach in a dialog.
const focusable = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// Dialog is modal: it takes focus (its first field), keeps Tab and
// Shift+Tab inside it, closes with Escape or a click beside it, and gives
// focus back to what had it (the button that opened it) when it closes.
export function Dialog({ title, onClose, children, footer, wide }: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  // The latest onClose, so that the effect below runs once: pages pass a
  // new function at every render, and re-running it would move focus
  // back to the first field while the user types in another.
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, select, textarea, button:not([data-close])");
    first?.focus();
    const key = (e: globalThis.KeyboardEvent) => {
      const d = ref.current;
      if (e.key === "Escape") close.current();
      if (e.key !== "Tab" || !d) return;
      const els = Array.from(d.querySelectorAll<HTMLElement>(focusable)).filter((el) => !el.closest("[hidden]"));
      if (els.length === 0) {
        e.preventDefault();
        return;
      }
      const active = document.activeElement;
      const inside = !!active && d.contains(active);
      if (e.shiftKey && (!inside || active === els[0])) {
        e.preventDefault();
        els[els.length - 1].focus();
      } else if (!e.shiftKey && (!inside || active === els[els.length - 1])) {
        e.preventDefault();
        els[0].focus();
      }
    };
    window.addEventListener("keydown", key);
    return () => {
      window.removeEventListener("keydown", key);
      if (prev?.isConnected) prev.focus();
    };
  }, []);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={"dialog" + (wide ? " wide" : "")} role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <header>
          <h2>{title}</h2>
          <button type="button" className="btn ghost" data-close onClick={onClose} aria-label="Close">✕</button>
        </header>
        <div className="dialog-body">{children}</div>
        {footer && <footer>{footer}</footer>}
      </div>
    </div>
  );
}

// MenuButton is a button that opens a menu (Add files): arrow keys, Home
// and End move between its items, Escape closes it and Tab leaves it; a
// click outside closes it. Choosing an item gives focus back to the
// button first, so that a dialog the item opens returns it there.
export function MenuButton({ label, icon, reason, items }: { label: string; icon?: string; reason?: string | null; items: { label: string; onSelect: () => void }[] }) {
  const [open, setOpen] = useState(false);
  const wrap = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!open) return;
    wrap.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const down = (e: MouseEvent) => {
      if (!wrap.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", down);
    return () => document.removeEventListener("mousedown", down);
  }, [open]);
  const onKey = (e: KeyboardEvent) => {
    const els = Array.from(wrap.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? []);
    const i = els.indexOf(document.activeElement as HTMLElement);
    const go = (n: number) => {
      e.preventDefault();
      els[(n + els.length) % els.length]?.focus();
    };
    if (e.key === "ArrowDown") go(i + 1);
    else if (e.key === "ArrowUp") go(i - 1);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(els.length - 1);
    else if (e.key === "Escape") {
      e.preventDefault();
      setOpen(false);
      button.current?.focus();
    } else if (e.key === "Tab") setOpen(false);
  };
  return (
    <div className="menu-wrap" ref={wrap}>
      <Button ref={button} icon={icon} reason={reason} aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}
        onKeyDown={(e) => { if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); setOpen(true); } }}>{label}</Button>
      {open && (
        <div className="menu" role="menu" aria-label={label} onKeyDown={onKey}>
          {items.map((it) => (
            <button key={it.label} role="menuitem" type="button" tabIndex={-1} onClick={() => { setOpen(false); button.current?.focus(); it.onSelect(); }}>{it.label}</button>
          ))}
        </div>
      )}
    </div>
  );
}

// useNow is the time, again every everyMs: for text that says how long
// ago something was ("Idle for 12m") and must move on while the data it
// is made from stays the same.
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export function Tabs({ tabs, current, onChange }: { tabs: { id: string; label: string }[]; current: string; onChange: (id: string) => void }) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          key={t.id}
          type="button"
          role="tab"
          aria-selected={t.id === current}
          className={t.id === current ? "tab active" : "tab"}
          onClick={() => onChange(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

export function Field({ label, children, hint, error }: { label: string; children: ReactNode; hint?: ReactNode; error?: string | null }) {
  // The hint and error sit outside the <label>, so that the control's
  // accessible name is the label alone.
  return (
    <div className="field">
      <label>
        <span className="label">{label}</span>
        {children}
      </label>
      {hint && <span className="hint">{hint}</span>}
      {error && <span className="field-error" role="alert">{error}</span>}
    </div>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children && <div className="toolbar">{children}</div>}
    </div>
  );
}
