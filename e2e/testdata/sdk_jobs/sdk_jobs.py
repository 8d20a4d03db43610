"""Compute clusters and command jobs as Microsoft's azure-ai-ml SDK uses them
(the DP-100 compute lab, flows 1 and 2 of issue 5).

Run by e2e/sdk_jobs_test.go with the exports of `mlw env`,
in the virtualenv of `mlw sdk venv` (Debian's python3-azure). Usage:
    sdk_jobs.py <dir with config.json> <training folder> <download dir>
Prints "CHECK <name>" after each step, and "SDK JOBS OK" at the end.
"""
import io
import os
import sys
import contextlib
import time

import requests

from azure.ai.ml import MLClient, command
from azure.ai.ml.entities import AmlCompute
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import DefaultAzureCredential

cfg_dir, src, download = sys.argv[1], sys.argv[2], sys.argv[3]


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


started = time.monotonic()
ml = MLClient.from_config(DefaultAzureCredential(), path=os.path.join(cfg_dir, "config.json"))

try:
    ml.compute.get("aml-cluster")
    check("no cluster yet", False, "the cluster exists")
except ResourceNotFoundError:
    check("no cluster yet", True)

cluster = AmlCompute(name="aml-cluster", size="STANDARD_DS11_V2", min_instances=0, max_instances=1,
                     idle_time_before_scale_down=120, tier="Dedicated")
c = ml.compute.begin_create_or_update(cluster).result()
check("cluster created", c.size.upper() == "STANDARD_DS11_V2" and c.max_instances == 1, c)
c = ml.begin_create_or_update(AmlCompute(name="aml-cluster", max_instances=2)).result()
c = ml.compute.get("aml-cluster")
check("cluster scaled", c.max_instances == 2 and c.size.upper() == "STANDARD_DS11_V2" and c.idle_time_before_scale_down == 120, c)

job = command(code=src, command="python train.py", environment="AzureML-sklearn-1.5@latest",
              compute="aml-cluster", display_name="diabetes-train-cluster", experiment_name="diabetes-training")
returned = ml.create_or_update(job)
check("submitted", returned.status in ("NotStarted", "Queued", "Preparing", "Running"), returned.status)
check("compute name", returned.compute == "aml-cluster", returned.compute)
r = requests.get(returned.studio_url)  # trusts REQUESTS_CA_BUNDLE, as a browser trusts the CA
check("studio page", r.status_code == 200 and returned.name in r.text, returned.studio_url)

out = io.StringIO()
with contextlib.redirect_stdout(out):
    ml.jobs.stream(returned.name)
streamed = out.getvalue()
check("stream", "Accuracy:" in streamed and "AUC:" in streamed and "Execution Summary" in streamed, streamed)

done = ml.jobs.get(returned.name)
check("completed", done.status == "Completed", done.status)
check("listed", returned.name in [j.name for j in ml.jobs.list()])

ml.jobs.download(returned.name, download_path=download, all=True)
found = []
for root, _, files in os.walk(download):
    found += [os.path.relpath(os.path.join(root, f), download) for f in files]
check("download", any(f.endswith("user_logs/std_log.txt") for f in found), found)
with open([os.path.join(download, f) for f in found if f.endswith("user_logs/std_log.txt")][0]) as f:
    check("downloaded log", "AUC:" in f.read())

# Flows 1 and 2 of issue 5 end here (download included): report their wall time.
print(f"FLOWS 1+2 took {time.monotonic() - started:.2f} s", flush=True)

nodes = list(ml.compute.list_nodes("aml-cluster"))
check("nodes", len(nodes) == 1 and nodes[0].node_state == "idle", nodes)

failing = ml.create_or_update(command(command="echo doomed; exit 3", environment="AzureML-sklearn-1.5@latest",
                                      compute="azureml:aml-cluster", experiment_name="diabetes-training"))
try:
    with contextlib.redirect_stdout(io.StringIO()):
        ml.jobs.stream(failing.name)
    check("failed job raises", False)
except Exception as e:  # JobException
    check("failed job raises", "status code 3" in str(e), e)

print("SDK JOBS OK")
