"""azure-ai-ml in a Jupyter kernel, as the lab notebooks run it.

Outside a notebook the SDK turns its telemetry off; inside one, azure-ai-ml
1.28 sets up Azure Monitor (OpenTelemetry) on MLClient construction. Offline,
and without the OpenTelemetry SDK, that must fail quietly: the cells run, print
no error, and MLClient(enable_telemetry=False) skips it.

Run by e2e/sdk_notebook_test.go with the environment of one SDK generation;
the kernel (Debian's ipykernel, on this script's interpreter) inherits it.
Usage: sdk_notebook.py <dir with config.json>
Prints "CHECK <name>" after each step, and "SDK NOTEBOOK OK" at the end.
"""
import os
import sys

from jupyter_client.manager import KernelManager

cfg = os.path.join(sys.argv[1], "config.json")


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # the debugger's note on frozen modules is noise here
# Debian's ipykernel, run by this script's interpreter (a virtualenv's, where
# the tests use one), as a notebook server started from it would.
km = KernelManager(kernel_name="python3")
km.kernel_spec.argv[0] = sys.executable
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=60)


def run(code):
    """Runs one cell; returns its stdout, stderr and error (if any)."""
    out = {"stdout": "", "stderr": "", "error": None}

    def hook(msg):
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            out[c["name"]] += c["text"]
        elif t == "error":
            out["error"] = "\n".join(c["traceback"])

    reply = kc.execute_interactive(code, timeout=120, output_hook=hook)
    if reply["content"]["status"] != "ok" and not out["error"]:
        out["error"] = str(reply["content"])
    return out


try:
    cell = run(f"""
import logging, sys
import azure.ai.ml
from azure.ai.ml import MLClient
from azure.ai.ml._telemetry.logging_handler import in_jupyter_notebook
from azure.identity import DefaultAzureCredential
ml = MLClient.from_config(DefaultAzureCredential(), path={cfg!r})
print("VERSION", azure.ai.ml.__version__)
print("NOTEBOOK", in_jupyter_notebook())
telemetry = logging.getLogger("azure.ai.ml._telemetry")
print("ATTEMPTED", bool(telemetry.filters))
print("WORKSPACE", ml.workspaces.get(ml.workspace_name).name)
print("COMPUTES", len(list(ml.compute.list())))
""")
    check("cell ran", cell["error"] is None, cell)
    lines = dict(line.split(" ", 1) for line in cell["stdout"].splitlines() if " " in line)
    check("in a notebook", lines.get("NOTEBOOK") == "True", cell)
    check("workspace from the notebook", lines.get("WORKSPACE") == "ws1" and lines.get("COMPUTES", "").isdigit(), cell)
    for word in ("Traceback", "opentelemetry", "applicationinsights", "Error"):
        check(f"no {word} printed", word not in cell["stdout"] + cell["stderr"], cell)
    if lines.get("VERSION", "").startswith("1.4."):
        # 1.4.0 has no telemetry to set up (its exporter is commented out).
        print("SDK NOTEBOOK OK", flush=True)
        sys.exit(0)
    # 1.28 went past its gates (notebook, telemetry on, its own user agent)
    # and tried Azure Monitor, which failed without a word.
    check("telemetry attempted quietly", lines.get("ATTEMPTED") == "True", cell)

    cell = run(f"""
quiet = logging.getLogger("azure.ai.ml._telemetry")
quiet.handlers.clear(); quiet.filters.clear()
ml2 = MLClient.from_config(DefaultAzureCredential(), path={cfg!r}, enable_telemetry=False)
print("DISABLED", [type(h).__name__ for h in quiet.handlers], bool(quiet.filters))
""")
    check("enable_telemetry=False", cell["error"] is None and "DISABLED ['NullHandler'] False" in cell["stdout"], cell)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    del kc, km  # before interpreter shutdown, which their __del__ would not survive quietly
print("SDK NOTEBOOK OK", flush=True)
