"""Workspace creation with azure-ai-ml 1.28 through the cloud metadata route:
no intercepting proxy, only the exports of `mlw env`.

ARM_CLOUD_METADATA_URL=<server>/metadata/endpoints?api-version=2019-05-01
makes the SDK load the clouds that mlw describes and pick the one whose
resourceManager is part of that URL ("mlw"): every ARM call then goes to the
server, the Microsoft.Resources deployment of workspaces.begin_create
included. Usage: sdk_cloud.py <subscription> <group>
Prints "CHECK <name>" after each step, and "SDK CLOUD OK" at the end.
"""
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import Workspace
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import DefaultAzureCredential

sub, group = sys.argv[1], sys.argv[2]


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


# Importing azure.ai.ml already read the document (a default argument
# asks for the storage suffix), found the cloud by its resource manager and
# set AZUREML_CURRENT_CLOUD for the rest of the process.
check("cloud from metadata", os.environ.get("AZUREML_CURRENT_CLOUD") == "mlw", os.environ.get("AZUREML_CURRENT_CLOUD"))
cred = DefaultAzureCredential()
ml = MLClient(cred, sub, group)
check("resource manager", ml._base_url == os.environ["AZUREML_DEV_URL_MFE"], ml._base_url)

ws = ml.workspaces.begin_create(Workspace(name="ws-cloud", location="eastus", description="made through the cloud metadata",
                                          tags={"lab": "01"})).result()
check("workspace created", ws.name == "ws-cloud" and ws.description == "made through the cloud metadata", ws)
check("a plain workspace", type(ws).__name__ == "Workspace" and ws._kind == "default", (type(ws), ws._kind))
check("tags", ws.tags.get("lab") == "01" and ws.tags.get("createdByToolkit", "").startswith("sdk-v2-1.28"), ws.tags)
# The workspace's tracking URI is the https URL the stock mlflow client
# uses (docs/mlflow.md; the azureml:// form is for the azureml-mlflow plugin).
uri = ws.mlflow_tracking_uri or ""
check("mlflow tracking uri", uri.startswith("https://") and "/mlflow/v1.0/subscriptions/" in uri and uri.endswith("/workspaces/ws-cloud"), uri)
check("listed", "ws-cloud" in [w.name for w in ml.workspaces.list()])

mlw = MLClient(cred, sub, group, "ws-cloud")
check("its datastore", mlw.datastores.get_default().name == "workspaceblobstore")
check("its computes", list(mlw.compute.list()) == [])

ml.workspaces.begin_delete("ws-cloud", delete_dependent_resources=False).result()
try:
    ml.workspaces.get("ws-cloud")
    check("workspace deleted", False, "still there")
except ResourceNotFoundError:
    check("workspace deleted", True)
print("SDK CLOUD OK", flush=True)
