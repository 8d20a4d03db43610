"""The rest of issue 5's acceptance with Microsoft's azure-ai-ml SDK, unchanged:
flow 3 (a compute instance with a setup script and a stop schedule; sizes,
usage), flow 4 (environments: curated list and get, a custom one, a job on
it) and flow 5 (errors surface as the SDK's own exceptions with mlw's
message: an unknown VM size, a quota overflow, a missing compute, a bad
token).

Usage: sdk_more.py <dir with config.json> <code dir> <conda file>
Prints "CHECK <name>" after each step and "SDK MORE OK" at the end.
"""
import contextlib
import io
import os
import sys

from azure.ai.ml import MLClient, command
from azure.ai.ml.entities import (AmlCompute, ComputeInstance, ComputeSchedules, ComputeStartStopSchedule,
                                  CronTrigger, Environment)
from azure.ai.ml.entities._compute._setup_scripts import ScriptReference, SetupScripts  # not re-exported in 1.4.0
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential

cfg_dir, code_dir, conda_file = sys.argv[1], sys.argv[2], sys.argv[3]
config = os.path.join(cfg_dir, "config.json")


def check(name, cond, detail=""):
    if not cond:
        raise SystemExit(f"FAILED {name}: {detail}")
    print("CHECK", name, flush=True)


ml = MLClient.from_config(DefaultAzureCredential(), path=config)

# Flow 3: an instance with a creation script from the file share and a stop schedule.
ci = ComputeInstance(
    name="ci-sdk-setup", size="STANDARD_DS11_V2",
    setup_scripts=SetupScripts(creation_script=ScriptReference(path="Users/admin/setup.sh", timeout_minutes=5)),
    schedules=ComputeSchedules(compute_start_stop=[ComputeStartStopSchedule(
        action="stop", trigger=CronTrigger(expression="0 18 * * *", time_zone="UTC"))]),
)
created = ml.compute.begin_create_or_update(ci).result()
check("instance with setup script running", created.state == "Running", created.state)
got = ml.compute.get("ci-sdk-setup")
check("setup script kept", got.setup_scripts is not None and got.setup_scripts.creation_script.path == "Users/admin/setup.sh",
      got.setup_scripts)
sizes = list(ml.compute.list_sizes())
check("list_sizes", any(s.name.upper() == "STANDARD_DS11_V2" and s.v_cp_us == 2 for s in sizes), sizes[:3])
usage = list(ml.compute.list_usage())
check("list_usage", any(u.current_value >= 2 for u in usage), usage[:3])
check("compute.list", "ci-sdk-setup" in [c.name for c in ml.compute.list()])

# Flow 4: environments.
curated = [e.name for e in ml.environments.list()]
check("curated listed", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu" in curated, curated)
versions = list(ml.environments.list(name="AzureML-sklearn-1.0-ubuntu20.04-py38-cpu"))
env = ml.environments.get("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version=versions[0].version)
check("curated get", env.name == "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", env)
custom = ml.environments.create_or_update(Environment(
    name="my-sklearn", conda_file=conda_file, image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"))
check("custom created", custom.version == "1", custom.version)

cluster = ml.compute.begin_create_or_update(AmlCompute(name="cpu-cluster", size="STANDARD_DS11_V2", min_instances=0,
                                                      max_instances=1, idle_time_before_scale_down=120)).result()
job = ml.create_or_update(command(code=code_dir, command="python check_env.py", environment="my-sklearn@latest",
                                  compute="cpu-cluster", experiment_name="custom-env"))
out = io.StringIO()
with contextlib.redirect_stdout(out):
    ml.jobs.stream(job.name)
check("job on custom environment", "sklearn OK" in out.getvalue() and ml.jobs.get(job.name).status == "Completed",
      out.getvalue())

# Flow 5: errors are the SDK's own exceptions with mlw's message.
try:
    ml.compute.begin_create_or_update(AmlCompute(name="bad-size", size="STANDARD_NOPE", max_instances=1)).result()
    check("unknown size refused", False)
except HttpResponseError as e:
    check("unknown size refused", "STANDARD_NOPE" in str(e) and "list-sizes" in str(e), e)
try:
    ml.compute.begin_create_or_update(AmlCompute(name="too-big", size="STANDARD_DS11_V2", max_instances=500)).result()
    check("quota refused", False)
except HttpResponseError as e:
    check("quota refused", "QuotaExceeded" in str(e) and "standardDSv2Family" in str(e), e)
try:
    ml.compute.get("no-such-compute")
    check("missing compute", False)
except ResourceNotFoundError as e:
    check("missing compute", "no-such-compute" in str(e), e)
try:
    ml.create_or_update(command(command="echo hi", environment="AzureML-sklearn-1.5@latest", compute="no-such-compute"))
    check("job on missing compute refused", False)
except HttpResponseError as e:
    check("job on missing compute refused", "no-such-compute" in str(e), e)


class BadToken:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("mlw_not-a-real-token", 4102444800)


try:
    MLClient.from_config(BadToken(), path=config).compute.get("cpu-cluster")
    check("bad token refused", False)
except ClientAuthenticationError as e:
    check("bad token refused", "not known" in str(e), e)

ml.compute.begin_delete("ci-sdk-setup").result()
check("instance deleted", "ci-sdk-setup" not in [c.name for c in ml.compute.list()])
print("SDK MORE OK")
