#!/usr/bin/env bash
# The SLURM path of `aedyn sweep`, tested on a real single-node cluster on localhost:
# installs Debian's slurm-wlm and munge if missing (apt-get, as root or via sudo), starts
# munged, slurmctld and slurmd with a minimal slurm.conf written here, submits a small sweep
# with `aedyn sweep --slurm` + sbatch, waits for it, collects, and checks that sweep.csv is
# byte-identical to the same sweep run locally.
#
# Usage: .ci/slurm.sh AEDYN_BINARY
# Exit status: 0 = passed; 1 = failed; 2 = the cluster could not be set up or started in
# this environment (say why, loudly). Never reports success without a real SLURM run.
set -uo pipefail
cd "$(dirname "$0")/.."
AEDYN=$(realpath "${1:?usage: .ci/slurm.sh AEDYN_BINARY}")
WORK=$(mktemp -d /tmp/aedyn-slurm.XXXXXX)
CONF="$WORK/slurm.conf"
export SLURM_CONF="$CONF"
PIDS=()

say() { echo "slurm.sh: $*" >&2; }
unavailable() {
    say "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    say "!!! SLURM TEST NOT RUN: $*"
    say "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    cleanup
    exit 2
}
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    [ -f "$WORK/slurmctld.pid" ] && kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null
    [ -f "$WORK/slurmd.pid" ] && kill "$(cat "$WORK/slurmd.pid")" 2>/dev/null
    [ -f "$WORK/munged.pid" ] && kill "$(cat "$WORK/munged.pid")" 2>/dev/null
    true
}
trap cleanup EXIT

# 1. Packages.
if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null \
    || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" = 0 ]; then SUDO=""
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"
    else unavailable "slurm-wlm/munge are not installed and there is neither root nor passwordless sudo"
    fi
    say "installing slurm-wlm and munge with apt-get"
    $SUDO apt-get update -qq >"$WORK/apt.log" 2>&1 \
        && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurm-wlm munge >>"$WORK/apt.log" 2>&1 \
        || { tail -20 "$WORK/apt.log" >&2; unavailable "apt-get install slurm-wlm munge failed"; }
fi
[ "$(id -u)" = 0 ] || unavailable "the daemons need root (slurmd runs jobs as their user); running as uid $(id -u)"

# 2. munge: a private socket and key, so nothing system-wide is touched.
MUNGE_SOCKET="$WORK/munge.socket"
mungekey --create --keyfile="$WORK/munge.key" >/dev/null 2>&1 \
    || dd if=/dev/urandom of="$WORK/munge.key" bs=1024 count=1 2>/dev/null
chown munge:munge "$WORK" "$WORK/munge.key" 2>/dev/null
chmod 0700 "$WORK"; chmod 0400 "$WORK/munge.key"
mkdir -p "$WORK/munge-log" && chown munge:munge "$WORK/munge-log"
runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$WORK/munge.key" \
    --pid-file="$WORK/munged.pid" --log-file="$WORK/munge-log/munged.log" \
    --seed-file="$WORK/munge-log/seed" --force \
    || unavailable "munged did not start: $(tail -3 "$WORK/munge-log/munged.log" 2>/dev/null)"
chmod 0755 "$WORK"

# 3. slurm.conf: one controller and one node (this host), no accounting, no cgroups.
NODE=$(hostname -s)
NODELINE=$(slurmd -C 2>/dev/null | head -1)
[ -n "$NODELINE" ] || NODELINE="NodeName=$NODE CPUs=$(nproc)"
mkdir -p "$WORK/state" "$WORK/spool"
cat >"$CONF" <<EOF
ClusterName=aedynci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
$NODELINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$CONF" || unavailable "slurmctld did not start: $(tail -5 "$WORK/slurmctld.log" 2>/dev/null)"
slurmd -f "$CONF" || unavailable "slurmd did not start: $(tail -5 "$WORK/slurmd.log" 2>/dev/null)"
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
    sleep 1
done
sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' \
    || unavailable "the node never became idle: sinfo says '$(sinfo -h -o '%T %E' 2>&1)'; slurmd log: $(tail -5 "$WORK/slurmd.log" 2>/dev/null)"
say "cluster up: $(sinfo -h -o '%P %D %T %c' | tr '\n' ' ')"

# 4. A small sweep (theory + SGD, 2 seeds, 6 points = 12 tasks) in chunks of 5 tasks.
cat >"$WORK/sweep.toml" <<'EOF'
[data]
dim = 200
[output]
t_max = 20.0
points = 31
[simulation]
test_samples = 0
[sweep]
what = "both"
seeds = 2
[[sweep.axis]]
field = "training.lr"
values = [0.2, 0.8]
[[sweep.axis]]
field = "data.spikes.1"
values = [5.0, 9.0, 15.0]
EOF
"$AEDYN" sweep --quiet --config "$WORK/sweep.toml" --out "$WORK/local" || { say "local sweep failed"; exit 1; }
"$AEDYN" sweep --slurm --chunk-size 5 --config "$WORK/sweep.toml" --out "$WORK/cluster" || exit 1
JOB=$(sbatch --parsable "$WORK/cluster/sweep.sbatch") || unavailable "sbatch refused the job"
say "submitted job array $JOB"
for _ in $(seq 300); do
    [ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] && break
    sleep 1
done
[ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] || { say "job $JOB did not finish in 5 minutes"; squeue; exit 1; }
cat "$WORK"/cluster/slurm/*.out >&2
"$AEDYN" sweep --collect --config "$WORK/sweep.toml" --out "$WORK/cluster" || { say "collect reports missing tasks"; exit 1; }
if cmp "$WORK/local/sweep.csv" "$WORK/cluster/sweep.csv"; then
    say "PASSED: SLURM job array $JOB gave the same sweep.csv as the local run ($(($(wc -l <"$WORK/local/sweep.csv") - 1)) rows)"
    cleanup
    sleep 1
    rm -rf "$WORK"
    exit 0
fi
say "FAILED: sweep.csv differs between the SLURM and the local run"
diff "$WORK/local/sweep.csv" "$WORK/cluster/sweep.csv" | head >&2
exit 1
