#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine, for mlw's Slurm
# backend tests and benchmarks (docs/slurm.md): installs Debian's slurm-wlm
# and munge when missing, writes /etc/slurm/slurm.conf for this host, starts
# munged, slurmctld and slurmd, and waits until the node takes jobs.
#
#   scripts/setup-slurm.sh          set up and start (idempotent: quick when
#                                   the daemons already run with this config)
#   scripts/setup-slurm.sh --no-cgroup
#                                   the same without Slurm's cgroup plugins:
#                                   memory enforced by polling (see below)
#   scripts/setup-slurm.sh --stop   cancel every job and stop the daemons
#
# Run as root on Debian 12 (Slurm 22.05). It needs no systemd and no
# slurmdbd: job history comes from the job completion log (`sacct -c`).
# Daemons are tracked by their pidfiles, never by name: where PID 1 does
# not reap orphans, a killed daemon stays a zombie that pgrep still finds.
set -euo pipefail

conf=/etc/slurm/slurm.conf
gres_conf=/etc/slurm/gres.conf
run=/run/slurm
munge_pid=/run/munge/munged.pid
ctld_pid=$run/slurmctld.pid
slurmd_pid=$run/slurmd.pid
t0=$(date +%s%N)

log() { printf 'setup-slurm: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
elapsed() { printf '%d.%03d s' $(( ($(date +%s%N) - t0) / 1000000000 )) $(( ($(date +%s%N) - t0) / 1000000 % 1000 )); }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages, writes /etc/slurm and starts daemons)"

# running PID NAME: PID is a live (not zombie) process whose command is
# NAME.
running() {
  local stat
  [ -n "$1" ] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces.
  [ "$(cut -d'(' -f2 <<<"$stat" | cut -d')' -f1)" = "$2" ] || return 1
  [ "$(awk '{print $1}' <<<"${stat##*) }")" != Z ]
}

# pid_of PIDFILE: the pid it holds ("" when none; a daemon removes its
# pidfile as it stops).
pid_of() { { tr -dc 0-9 <"$1"; } 2>/dev/null || true; }

# alive PIDFILE NAME: the pidfile names a running NAME.
alive() { running "$(pid_of "$1")" "$2"; }

# stop_daemon PIDFILE NAME: SIGTERM, then SIGKILL after 10 s. It waits for
# the process itself, not its pidfile, which goes before the process does.
stop_daemon() {
  local pid
  pid=$(pid_of "$1")
  if running "$pid" "$2"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      running "$pid" "$2" || break
      sleep 0.1
    done
    if running "$pid" "$2"; then
      log "$2 ($pid) ignored SIGTERM for 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while running "$pid" "$2"; do sleep 0.1; done
    fi
  fi
  rm -f "$1"
}

stop_all() {
  if alive "$ctld_pid" slurmctld; then
    # Jobs would outlive slurmd (each runs under its own slurmstepd) and
    # keep using the machine: this is a test cluster, so end them.
    local ids
    ids=$(squeue -h -o %i 2>/dev/null || true)
    [ -z "$ids" ] || scancel --quiet $ids || true
    for _ in $(seq 1 50); do
      [ -z "$(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
  stop_daemon "$munge_pid" munged
}

cgroup=auto
case "${1:-}" in
  --stop)
    stop_all
    log "stopped slurmd, slurmctld and munged ($(elapsed))"
    exit 0
    ;;
  --no-cgroup) cgroup=no ;;
  "") ;;
  *) die "usage: $0 [--stop | --no-cgroup]" ;;
esac

# --- packages ---------------------------------------------------------------
missing=()
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  # Another apt (a test run installing its packages) may hold the dpkg
  # lock: wait for it instead of failing. The package lists are refreshed
  # only when the first try cannot find the packages.
  apt=(apt-get -o DPkg::Lock::Timeout=600 -q -y --no-install-recommends)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/tmp/setup-slurm-apt.log 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=600 -qq update
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/tmp/setup-slurm-apt.log 2>&1 ||
      die "apt-get install ${missing[*]} failed; see /tmp/setup-slurm-apt.log"
  }
  log "installed ($(elapsed))"
fi

# --- configuration ----------------------------------------------------------
host=$(hostname -s)
# What slurmd detects on this machine (CPUs, sockets, cores, threads and
# memory in MiB); the node line must not claim more, or slurmd drains it.
hw=$(slurmd -C | head -1)
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
cpus=$(field CPUs)
sockets=$(field SocketsPerBoard)
cores=$(field CoresPerSocket)
threads=$(field ThreadsPerCore)
mem=$(field RealMemory)
[ -n "$cpus" ] && [ -n "$mem" ] || die "cannot read this machine's CPUs and memory from 'slurmd -C': $hw"
# Keep a tenth of the memory (at least 512 MiB, at most 4 GiB) for the
# system and mlw server; jobs are given the rest.
reserve=$(( mem / 10 ))
(( reserve < 512 )) && reserve=512
(( reserve > 4096 )) && reserve=4096
real_mem=$(( mem - reserve ))
# A job that asks for no memory gets its CPUs' share of the node's. Without
# DefMemPerCPU it would get ALL of it, and jobs would run one at a time.
def_mem=$(( real_mem / cpus ))

# GPUs: NVIDIA device files, counted; none on most test machines. GresTypes
# is always set so that `--gres=gpu:N` on a node without GPUs is refused as
# "not available" rather than as an unknown resource.
ngpu=$(find /dev -maxdepth 1 -regex '/dev/nvidia[0-9]+' 2>/dev/null | wc -l)
gres_node=""
if (( ngpu > 0 )); then
  gres_node=" Gres=gpu:$ngpu"
fi

# Enforcement. Where cgroup v1's memory and cpuset controllers are mounted
# (this project's Debian machines), Slurm's cgroup plugins confine each job
# to its cores and memory: a job over --mem is killed by the kernel at once
# and ends OUT_OF_MEMORY. Slurm 22.05's cgroup v2 support wants systemd to
# delegate a subtree, so on a v2-only host without systemd (and with
# --no-cgroup) the fallback is proctrack/linuxproc with OverMemoryKill:
# memory is sampled every 5 s (the default, 30 s, lets a job overrun its
# --mem for half a minute) and a step over its limit is killed, which Slurm
# reports as FAILED by SIGKILL (docs/slurm.md says how mlw tells it apart);
# CPUs are then not fenced.
if [ "$cgroup" = auto ]; then
  cgroup=no
  if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ] && [ -e /sys/fs/cgroup/cpuset/cpuset.cpus ] &&
    [ -d /sys/fs/cgroup/freezer ]; then
    cgroup=v1
  fi
fi
if [ "$cgroup" = v1 ]; then
  enforce="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
# No accounting samples are needed (the kernel enforces memory), and the
# guide says gathering them costs throughput.
JobAcctGatherType=jobacct_gather/none"
  new_cgroup="# Written by mlw's scripts/setup-slurm.sh.
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes"
else
  enforce="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
JobAcctGatherParams=OverMemoryKill"
  new_cgroup=""
fi

new_conf=$(cat <<CONF
# Written by mlw's scripts/setup-slurm.sh for host ${host}; rerun it rather
# than editing this file. One node, no slurmdbd. See docs/slurm.md.
ClusterName=mlw
SlurmctldHost=${host}
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=${ctld_pid}
SlurmdPidFile=${slurmd_pid}
# Logs on local storage, at the default level, info (SchedMD's
# high-throughput guide: info or error; debug levels slow the daemons).
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# How jobs are confined (see the script: cgroups, or polling).
${enforce}
# Backfill, not sched/builtin: the guide suggests builtin (FIFO) for short
# jobs, but with time limits backfill starts small jobs past a big one that
# waits for resources, which an mlw cluster's queue wants; its cost is a
# pass every bf_interval (30 s), not on each submit.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# High-throughput settings (SchedMD's guide) that matter on one node:
# batch_sched_delay=0 schedules a batch job when it is submitted instead of
# up to 3 s later (the default); "defer" and sched_min_interval are left
# out, because they trade each job's start latency for throughput under
# bursts of hundreds of submissions per second.
SchedulerParameters=batch_sched_delay=0
# No accounting database (the guide: minimal overhead). The job completion
# log is kept: it is what 'sacct -c' reads once a job has left slurmctld.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
# Finished jobs stay visible to squeue/scontrol for 30 s (default 300 s;
# the guide says a few seconds): long enough for mlw to read the exit of a
# job it polls, after which 'sacct -c' answers.
MinJobAge=30
# Refuse at submit a job that no node of its partition could ever hold
# (the default, NO, queues it forever with reason PartitionConfig).
EnforcePartLimits=ALL
ReturnToService=2
MpiDefault=none
GresTypes=gpu
DefMemPerCPU=${def_mem}
NodeName=${host} CPUs=${cpus} SocketsPerBoard=${sockets} CoresPerSocket=${cores} ThreadsPerCore=${threads} RealMemory=${real_mem}${gres_node} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
)
new_gres=""
if (( ngpu > 0 )); then
  new_gres="NodeName=${host} Name=gpu File=/dev/nvidia[0-$(( ngpu - 1 ))]"
fi

# put FILE TEXT: write FILE if its text differs (remove it for no text);
# sets changed=1 when it did.
changed=0
put() {
  if [ -n "$2" ]; then
    if [ "$(cat "$1" 2>/dev/null)" != "$2" ]; then
      printf '%s\n' "$2" >"$1"
      changed=1
    fi
  elif [ -e "$1" ]; then
    rm -f "$1"
    changed=1
  fi
}
put "$conf" "$new_conf"
put "$gres_conf" "$new_gres"
put /etc/slurm/cgroup.conf "$new_cgroup"

mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm "$run" /run/munge /var/log/munge /var/lib/munge
chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm "$run"
touch /var/log/slurm/jobcomp.log
chown slurm:slurm /var/log/slurm/jobcomp.log
chown munge:munge /run/munge /var/log/munge /var/lib/munge

# --- daemons ----------------------------------------------------------------
# The daemons start with a clean environment: slurmd's reaches the jobs'
# prologs and, with some --export modes, the jobs.
clean=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
# munge: Debian's postinst creates the key; make one if it is missing.
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --force
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! alive "$munge_pid" munged; then
  # Ten threads, as the guide suggests: every Slurm command and RPC
  # encodes or decodes a credential.
  "${clean[@]}" su -s /bin/sh munge -c "/usr/sbin/munged --num-threads=10 --pid-file=$munge_pid"
fi

if (( changed )); then
  # A new configuration: restart what runs so that it applies (nodes'
  # layout changes need a restart, not only 'scontrol reconfigure').
  if alive "$ctld_pid" slurmctld || alive "$slurmd_pid" slurmd; then
    log "configuration changed; restarting slurmctld and slurmd"
  fi
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
fi
alive "$ctld_pid" slurmctld || "${clean[@]}" slurmctld
alive "$slurmd_pid" slurmd || "${clean[@]}" slurmd

# Wait until the node answers and takes jobs: idle, or running jobs left
# from before (mixed, allocated). down, drain and the like are failures.
state=""
for _ in $(seq 1 300); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle | mixed | allocated | completing) break ;;
  esac
  sleep 0.1
done
case "$state" in
  idle | mixed | allocated | completing) ;;
  *)
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    die "node $host is '${state:-not reported}' after 30 s (logs above; 'scontrol show node $host' says why)"
    ;;
esac
limits="cgroup v1 (cores and memory)"
[ "$cgroup" = v1 ] || limits="memory polled every 5 s (OverMemoryKill), CPUs not fenced"
log "node $host is $state: $cpus CPUs, ${real_mem} MiB for jobs, $ngpu GPUs; partition debug; limits: $limits ($(elapsed))"
