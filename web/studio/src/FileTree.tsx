// A read-only file tree (a job's code snapshot, its outputs): folders fold,
// files open, and each file may carry actions (a download link).
import { useState, type ReactNode } from "react";
import type { TreeNode } from "./lib/util";

export function fileIcon(name: string): string {
  if (name.endsWith(".ipynb")) return "◈";
  if (name.endsWith(".py")) return "≋";
  if (name.endsWith(".sh")) return "$";
  return "≡";
}

// initiallyOpen lists the folders to show unfolded: every folder down to
// the first one with more than one entry (a snapshot's single top folder).
export function initiallyOpen(root: TreeNode, depth = 2): Set<string> {
  const open = new Set<string>();
  const walk = (n: TreeNode, d: number) => {
    for (const c of n.children) {
      if (c.dir && (d < depth || n.children.length === 1)) {
        open.add(c.path);
        walk(c, d + 1);
      }
    }
  };
  walk(root, 0);
  return open;
}

export function FileTree({ root, label, selected, onOpen, actions, open: initial }: {
  root: TreeNode; label: string; selected?: string | null; onOpen?: (n: TreeNode) => void;
  actions?: (n: TreeNode) => ReactNode; open?: Set<string>;
}) {
  const [open, setOpen] = useState<Set<string>>(() => initial ?? initiallyOpen(root));
  const toggle = (p: string) => {
    const n = new Set(open);
    if (n.has(p)) n.delete(p);
    else n.add(p);
    setOpen(n);
  };
  const node = (n: TreeNode, depth: number): ReactNode => {
    const isOpen = open.has(n.path);
    return (
      <li key={n.path} role="treeitem" aria-expanded={n.dir ? isOpen : undefined} aria-selected={selected === n.path} data-path={n.path}>
        <div className={"tree-row" + (selected === n.path ? " selected" : "")} style={{ paddingLeft: `${depth * 14 + 4}px` }}>
          {n.dir || onOpen ? (
            <button type="button" className="tree-item" onClick={() => (n.dir ? toggle(n.path) : onOpen?.(n))}>
              <span aria-hidden="true" className="icon">{n.dir ? (isOpen ? "▾" : "▸") : fileIcon(n.name)}</span> {n.name}
            </button>
          ) : (
            <span className="tree-item static"><span aria-hidden="true" className="icon">{fileIcon(n.name)}</span> {n.name}</span>
          )}
          {!n.dir && actions && <span className="file-actions">{actions(n)}</span>}
        </div>
        {n.dir && isOpen && n.children.length > 0 && <ul role="group">{n.children.map((c) => node(c, depth + 1))}</ul>}
      </li>
    );
  };
  return <ul className="tree" role="tree" aria-label={label}>{root.children.map((c) => node(c, 0))}</ul>;
}
