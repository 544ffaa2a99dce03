#!/usr/bin/env bash
# Installs (when missing) and starts a single-node Slurm on this machine, as root and without
# systemd: munged, slurmctld and slurmd with a one-node slurm.conf, no accounting. Idempotent:
# safe to run when Slurm is already up. Used by scripts/test.sh so the Slurm tests run for real.
set -euo pipefail

say() { echo "slurm/setup.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "must run as root (it installs packages and starts daemons)"; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: the authentication every Slurm daemon and client uses.
mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- munged
fi

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
conf_dir=/etc/slurm
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
conf=$(cat <<CONF
# Written by naga's scripts/slurm/setup.sh: one node, no accounting, no cgroups.
ClusterName=naga
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MaxArraySize=10001
SlurmdTimeout=300
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ "$(cat "$conf_dir/slurm.conf" 2>/dev/null)" != "$conf" ]; then
  printf '%s\n' "$conf" > "$conf_dir/slurm.conf"
  pkill -x slurmctld 2>/dev/null || true
  pkill -x slurmd 2>/dev/null || true
  sleep 1
fi

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n1 || true)
  case "$state" in
    idle*|mixed*|allocated*) break ;;
    down*|drain*|fail*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
case "$state" in
  idle*|mixed*|allocated*) ;;
  *) say "the node did not come up (state: '${state:-none}'); see /var/log/slurm/"; exit 1 ;;
esac

# A real job and a real job array, as the tests will submit them.
out=$(mktemp -d)
if ! sbatch --quiet --wait --output="$out/%A_%a.out" --array=0-1 --wrap 'echo ok' >/dev/null; then
  say "a test job array failed; see /var/log/slurm/"; rm -rf "$out"; exit 1
fi
if [ "$(cat "$out"/*.out | grep -c ok)" != 2 ]; then
  say "the test job array did not run both tasks"; rm -rf "$out"; exit 1
fi
rm -rf "$out"
say "single-node Slurm is up on $host ($cpus CPUs)"
