"""Workspace creation and host-style blob access through mlw's proxy.

Run by e2e/sdk_data_test.go with the exports of `mlw env` plus
HTTPS_PROXY=<mlw server --proxy-listen>. Usage: sdk_proxy.py <subscription> <group>
"""
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import Workspace
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobServiceClient

sub, group = sys.argv[1], sys.argv[2]
cred = DefaultAzureCredential()
ml = MLClient(cred, sub, group)

# workspaces.begin_create always goes to management.azure.com (ARM
# deployments): only the proxy can bring it to mlw.
ws = ml.workspaces.begin_create(Workspace(name="ws-proxy", location="eastus", description="made through the proxy")).result()
assert ws.name == "ws-proxy" and ws.description == "made through the proxy", ws
print("CHECK workspace created", flush=True)

mlw = MLClient(cred, sub, group, "ws-proxy")
ds = mlw.datastores.get_default(include_secrets=True)
account = ds.account_name.split("/")[2]  # HOST:PORT/blob/ACCOUNT/?x=
sas = ds.credentials.sas_token

# The real Azure endpoint, host-style, as any Azure storage tool uses it.
svc = BlobServiceClient(f"https://{account}.blob.core.windows.net", credential=sas)
blob = svc.get_blob_client(ds.container_name, "proxy/hello.txt")
blob.upload_blob(b"hello through the proxy", overwrite=True)
assert blob.download_blob().readall() == b"hello through the proxy"
names = [b.name for b in svc.get_container_client(ds.container_name).list_blobs(name_starts_with="proxy/")]
assert names == ["proxy/hello.txt"], names
print("CHECK host-style blob", flush=True)
print("SDK PROXY OK", flush=True)
