"""The DP-100 lab's training job on a Slurm-backed cluster, through
Microsoft's azure-ai-ml SDK unchanged (e2e/slurm_test.go). The cluster was
created with the mlw CLI (the SDK has no field for mlw's backend).
Usage:
    sdk_slurm.py <dir with config.json> <training folder> <cluster> <node>
Prints "CHECK <name>" after each step, and "SDK SLURM OK" at the end.
"""
import contextlib
import io
import os
import sys

from azure.ai.ml import MLClient, command
from azure.identity import DefaultAzureCredential

cfg_dir, src, cluster, node = sys.argv[1:5]


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


ml = MLClient.from_config(DefaultAzureCredential(), path=os.path.join(cfg_dir, "config.json"))
c = ml.compute.get(cluster)
check("cluster", c.type == "amlcompute" and c.provisioning_state == "Succeeded", c)

job = command(code=src, command="python train.py", environment="AzureML-sklearn-1.5@latest",
              compute=cluster, display_name="diabetes-train-slurm", experiment_name="diabetes-training")
returned = ml.create_or_update(job)
check("submitted", returned.compute == cluster, returned.compute)

out = io.StringIO()
with contextlib.redirect_stdout(out):
    ml.jobs.stream(returned.name)
streamed = out.getvalue()
check("stream", "Accuracy:" in streamed and "AUC:" in streamed and "Execution Summary" in streamed, streamed)
done = ml.jobs.get(returned.name)
check("completed", done.status == "Completed", done.status)

nodes = list(ml.compute.list_nodes(cluster))
check("nodes", [n.node_id for n in nodes] == [node], nodes)
print("SDK SLURM OK", flush=True)
