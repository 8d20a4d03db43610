// The code editor: CodeMirror 6 with highlighting for shell, Python, YAML
// and JSON, in the studio's light or dark theme.
import { useEffect, useRef } from "react";
import { EditorView, basicSetup } from "codemirror";
import { EditorState, Compartment } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { StreamLanguage } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { yaml } from "@codemirror/lang-yaml";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { json } from "@codemirror/legacy-modes/mode/javascript";
import { oneDark } from "@codemirror/theme-one-dark";
import { languageOf } from "./lib/util";

function lang(path: string) {
  switch (languageOf(path)) {
    case "python": return python();
    case "shell": return StreamLanguage.define(shell);
    case "yaml": return yaml();
    case "json": return StreamLanguage.define(json);
    default: return [];
  }
}

function dark(): boolean {
  const t = document.documentElement.dataset.theme;
  return t ? t === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
}

export function Editor({ path, value, onChange, onSave, readOnly }: { path: string; value: string; onChange: (v: string) => void; onSave: () => void; readOnly?: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const cb = useRef({ onChange, onSave });
  cb.current = { onChange, onSave };
  useEffect(() => {
    const theme = new Compartment();
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          keymap.of([{ key: "Mod-s", preventDefault: true, run: () => (cb.current.onSave(), true) }, indentWithTab]),
          lang(path),
          theme.of(dark() ? oneDark : []),
          EditorState.readOnly.of(!!readOnly),
          EditorView.contentAttributes.of({ "aria-label": `Editor: ${path}` }),
          EditorView.updateListener.of((u) => u.docChanged && cb.current.onChange(u.state.doc.toString())),
        ],
      }),
    });
    view.current = v;
    const obs = new MutationObserver(() => v.dispatch({ effects: theme.reconfigure(dark() ? oneDark : []) }));
    obs.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      obs.disconnect();
      v.destroy();
    };
    // A new file gets a new editor; value changes come from the editor.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, readOnly]);
  return <div className="editor" ref={host} data-path={path} />;
}
