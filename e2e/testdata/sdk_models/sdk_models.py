"""Models as Microsoft's azure-ai-ml SDK registers and reads them.

Run by e2e/models_test.go with the exports of `mlw env`. Usage:
    sdk_models.py <dir with config.json> <name prefix> <model folder> <job name> <download dir>
The job wrote an MLflow model to ./outputs/model; a model "from-mlflow"
was registered through MLflow's REST API. Prints "CHECK <name>" after each
step, and "SDK MODELS OK" at the end.
"""
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Model
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential

try:
    from azure.ai.ml.constants import ListViewType
except ImportError:  # 1.4.0
    from azure.ai.ml._restclient.v2022_05_01.models import ListViewType

cfg_dir, prefix, folder, job, download = sys.argv[1:6]


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


ml = MLClient.from_config(DefaultAzureCredential(), path=os.path.join(cfg_dir, "config.json"))
local, from_job = prefix + "diabetes-local", prefix + "diabetes-job"

# A local folder: uploaded to the default datastore, then the version PUT.
m = ml.models.create_or_update(Model(name=local, path=folder, type=AssetTypes.MLFLOW_MODEL,
                                     description="trained locally", tags={"lab": "06"}))
check("local folder", m.version == "1" and m.type == "mlflow_model" and
      "/datastores/workspaceblobstore/paths/LocalUpload/" in m.path, m)
m2 = ml.models.create_or_update(Model(name=local, path=folder, type=AssetTypes.MLFLOW_MODEL))
check("next version", m2.version == "2", m2.version)
single = ml.models.create_or_update(Model(name=prefix + "single-file", path=os.path.join(folder, "model.pkl")))
check("a single file, custom_model", single.type == "custom_model" and single.path.endswith("model.pkl"), single)

# A job's output, in both forms the docs give.
j = ml.models.create_or_update(Model(name=from_job, path=f"azureml://jobs/{job}/outputs/artifacts/paths/outputs/model/",
                                     type=AssetTypes.MLFLOW_MODEL))
check("job output", j.version == "1" and j.job_name == job and
      j.path.endswith(f"/datastores/workspaceartifactstore/paths/ExperimentRun/dcid.{job}/outputs/model"), j)
r = ml.models.create_or_update(Model(name=from_job, path=f"runs:/{job}/outputs/model", type=AssetTypes.MLFLOW_MODEL))
check("runs:/ form", r.version == "2" and r.path == j.path and r.job_name == job, r)

# List and get, MLflow's model among them.
names = {x.name for x in ml.models.list()}
check("list", {local, from_job, "from-mlflow"} <= names, names)
versions = sorted(x.version for x in ml.models.list(name=local))
check("list versions", versions == ["1", "2"], versions)
got = ml.models.get(local, version="1")
check("get", got.description == "trained locally" and got.tags == {"lab": "06"} and got.path == m.path, got)
latest = ml.models.get(from_job, label="latest")
check("latest", latest.version == "2", latest.version)
mf = ml.models.get("from-mlflow", version="1")
check("MLflow's model", mf.type == "mlflow_model" and mf.job_name == job and "sklearn" in (mf.flavors or {}), mf)

# Archive and restore, a version and a whole model.
ml.models.archive(local, version="1")
active = sorted(x.version for x in ml.models.list(name=local))
every = sorted(x.version for x in ml.models.list(name=local, list_view_type=ListViewType.ALL))
check("archive version", active == ["2"] and every == ["1", "2"], (active, every))
ml.models.restore(local, version="1")
check("restore version", len(list(ml.models.list(name=local))) == 2)
ml.models.archive(from_job)
check("archive model", from_job not in {x.name for x in ml.models.list()})
check("archived model listed with ALL", from_job in {x.name for x in ml.models.list(list_view_type=ListViewType.ALL)})
ml.models.restore(from_job)

# Download reads the files back from the datastores.
ml.models.download(local, "1", download_path=download)
ml.models.download(from_job, "1", download_path=download)
found = sorted(os.path.relpath(os.path.join(d, f), download) for d, _, fs in os.walk(download) for f in fs)
check("download", any(f.startswith(local) and f.endswith("MLmodel") for f in found) and
      any(f.startswith(from_job) and f.endswith("MLmodel") for f in found), found)

try:
    ml.models.get(local, version="9")
    check("missing version", False)
except ResourceNotFoundError as err:
    check("missing version", "no version '9'" in str(err), err)
try:
    ml.models.create_or_update(Model(name=local, version="1", path=f"azureml://jobs/{job}/outputs/artifacts/paths/outputs/model"))
    check("moved files refused", False)
except HttpResponseError as err:
    check("moved files refused", "Asset paths cannot be updated" in str(err), err)

print("SDK MODELS OK")
