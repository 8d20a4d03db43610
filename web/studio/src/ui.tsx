// Small building blocks shared by the pages.
import { useEffect, useRef, type ButtonHTMLAttributes, type ReactNode } from "react";
import { href, navigate } from "./lib/router";
import { stateTone } from "./lib/util";
import { ApiError } from "./lib/api";

// Button is disabled with a reason (shown as its tooltip and to screen
// readers) rather than hidden: a Reader sees what exists and why not.
export function Button(props: ButtonHTMLAttributes<HTMLButtonElement> & { reason?: string | null; primary?: boolean; icon?: string }) {
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

export function Dialog({ title, onClose, children, footer, wide }: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, select, textarea, button:not([data-close])");
    first?.focus();
    const key = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", key);
    return () => {
      window.removeEventListener("keydown", key);
      prev?.focus?.();
    };
  }, [onClose]);
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
