"""Drive a compute instance with Microsoft's azure-ai-ml SDK, unchanged:
create (with a schedule and idle shutdown), get, list, stop, start,
restart and delete, as the DP-100 compute lab does."""
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import ComputeInstance, ComputeSchedules, ComputeStartStopSchedule, CronTrigger
from azure.identity import DefaultAzureCredential

cfg, name = sys.argv[1], sys.argv[2]
ml = MLClient.from_config(DefaultAzureCredential(), path=cfg)

ci = ComputeInstance(
    name=name,
    size="STANDARD_DS11_V2",
    idle_time_before_shutdown_minutes=30,
    schedules=ComputeSchedules(compute_start_stop=[
        ComputeStartStopSchedule(action="stop", trigger=CronTrigger(expression="0 18 * * *", time_zone="Pacific Standard Time")),
    ]),
)
created = ml.compute.begin_create_or_update(ci).result()
assert created.state == "Running", created.state
assert created.provisioning_state == "Succeeded", created.provisioning_state
assert any(s.get("display_name") == "Terminal" for s in created.services), created.services
print("created", created.name, created.size, created.idle_time_before_shutdown_minutes)

got = ml.compute.get(name)
assert got.type == "computeinstance", got.type
sched = got.schedules.compute_start_stop[0]
assert sched.action.lower() == "stop", sched.action
assert sched.schedule_id, "schedules carry an id"
assert name in [c.name for c in ml.compute.list(compute_type="ComputeInstance")]

ml.compute.begin_stop(name).result()
assert ml.compute.get(name).state == "Stopped"
ml.compute.begin_start(name).result()
assert ml.compute.get(name).state == "Running"
ml.compute.begin_restart(name).result()
last = ml.compute.get(name)
assert last.state == "Running", last.state
assert last.last_operation["operation_name"] == "Restart", last.last_operation
ml.compute.begin_delete(name).result()
print("SDK INSTANCE OK")
