"""The data plane of mlw as Microsoft's azure-ai-ml SDK sees it.

Run by e2e/sdk_data_test.go with the exports of `mlw env`,
in the virtualenv of `mlw sdk venv` (Debian's python3-azure). Usage:
    sdk_data.py <dir with config.json> <workspace name>
Prints "CHECK <name>" after each step, and "SDK DATA OK" at the end.
"""
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import Environment
from azure.ai.ml.entities._assets import Code
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobClient

here = os.path.dirname(os.path.abspath(__file__))
cfg_dir, ws_name = sys.argv[1], sys.argv[2]


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


cred = DefaultAzureCredential()
tok = cred.get_token("https://management.azure.com/.default")
check("token", tok.token.count(".") == 2 and tok.expires_on > 0, tok)

ml = MLClient.from_config(cred, path=os.path.join(cfg_dir, "config.json"))

ws = ml.workspaces.get(ws_name)
check("workspace", ws.name == ws_name, ws)

ds = ml.datastores.get_default()
check("default datastore", ds.name == "workspaceblobstore", ds.name)
names = sorted(d.name for d in ml.datastores.list())
check("datastores", names == ["workspaceartifactstore", "workspaceblobstore", "workspacefilestore", "workspaceworkingdirectory"], names)
art = ml.datastores.get("workspaceartifactstore")
check("artifact store", art.container_name == "azureml", art.container_name)

envs = {e.name: e for e in ml.environments.list()}
check("curated list", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu" in envs and "AzureML-sklearn-1.5" in envs, list(envs))
latest10 = envs["AzureML-sklearn-1.0-ubuntu20.04-py38-cpu"].latest_version
e = ml.environments.get("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version=latest10)
check("curated get", e.version == latest10 and "scikit-learn" in str(e.conda_file) and e.image.startswith("mcr.microsoft.com/azureml/"), e)
e = ml.environments.get("AzureML-sklearn-1.5", label="latest")
check("curated latest", e.version == envs["AzureML-sklearn-1.5"].latest_version, e.version)
versions = list(ml.environments.list(name="AzureML-sklearn-1.5"))
check("curated versions", len(versions) >= 2, len(versions))

custom = ml.environments.create_or_update(Environment(
    name="my-sklearn", description="mlw e2e", tags={"lab": "04"},
    image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04", conda_file=os.path.join(here, "conda.yml")))
check("custom env v1", custom.version.isdigit() and custom.tags.get("lab") == "04", custom)
# Another definition without a version: 1.4.0 PUTs the container's
# nextVersion; 1.13+ PUTs the latest version, and the next one on 409.
custom2 = ml.environments.create_or_update(Environment(
    name="my-sklearn", image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04", conda_file=os.path.join(here, "conda.yml")))
check("custom env v2 (next version)", int(custom2.version) == int(custom.version) + 1, custom2.version)
got = ml.environments.get("my-sklearn", version=custom.version)
check("custom env get", "scikit-learn" in str(got.conda_file) and got.description == "mlw e2e", got)
got = ml.environments.get("my-sklearn", label="latest")
check("custom env latest", got.version == custom2.version, got.version)

try:
    ml.environments.create_or_update(Environment(name="AzureML-mine", image="x"))
    check("reserved prefix refused", False, "create succeeded")
except HttpResponseError as err:
    check("reserved prefix refused", "reserved" in str(err), err)

try:
    ml.environments.get("no-such-env", version="1")
    check("missing env", False)
except ResourceNotFoundError as err:
    check("missing env", "mlw environment list" in str(err), err)

os.chdir(here)
code = ml._code.create_or_update(Code(path="./src"))
check("code upload", code.version == "1" and "/LocalUpload/" in code.path, code)
blob_url = code.path.rstrip("/") + "/data.csv"
info = ml.datastores.get_default(include_secrets=True)
sas = info.credentials.sas_token
props = BlobClient.from_blob_url(blob_url + "?" + sas).get_blob_properties()
# data.csv sorts first: it is the indicator file that carries the metadata.
check("uploaded blob", props.size == 8 and props.metadata.get("upload_status") == "completed", props)
first = props.etag

code2 = ml._code.create_or_update(Code(path="./src"))
check("code re-upload reuses", (code2.name, code2.version, code2.path) == (code.name, code.version, code.path), (code, code2))
second = BlobClient.from_blob_url(blob_url + "?" + sas).get_blob_properties().etag
check("nothing uploaded again", first == second, (first, second))

# A tampered SAS is refused by the Blob API.
try:
    BlobClient.from_blob_url(blob_url + "?" + sas.replace("sp=racwdl", "sp=racwdl&sp=r")[:-4] + "AAA%3D").get_blob_properties()
    check("forged sas", False)
except ClientAuthenticationError:
    check("forged sas", True)
except HttpResponseError as err:
    check("forged sas", err.status_code == 403, err)


class BadCredential:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("mlw_not-a-real-token", 4102444800)


bad = MLClient.from_config(BadCredential(), path=os.path.join(cfg_dir, "config.json"))
try:
    bad.workspaces.get(ws_name)
    check("bad token", False, "accepted")
except ClientAuthenticationError as err:
    check("bad token", "not known" in str(err), err)

os.environ["IDENTITY_HEADER"] = "mlw_wrong"
try:
    DefaultAzureCredential().get_token("https://management.azure.com/.default")
    check("bad identity header", False, "accepted")
except ClientAuthenticationError as err:
    check("bad identity header", True)

print("SDK DATA OK", flush=True)
