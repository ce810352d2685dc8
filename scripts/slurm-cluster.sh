#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for simforge's SLURM integration tests
# and benchmarks. Debian packages, no systemd; starts in a few seconds.
#
#   scripts/slurm-cluster.sh start     # install if needed, start munge + slurmctld + slurmd
#   scripts/slurm-cluster.sh status    # sinfo
#   scripts/slurm-cluster.sh stop
#
# After `start`, export SLURM_CONF as printed (the default is $SIMFORGE_SLURM_DIR/etc/slurm.conf).
# Environment: SIMFORGE_SLURM_DIR (state directory, default /tmp/simforge-slurm),
# SLURM_CPUS (default: all cores).
set -euo pipefail

DIR=${SIMFORGE_SLURM_DIR:-/tmp/simforge-slurm}
CONF=$DIR/etc/slurm.conf
export SLURM_CONF=$CONF
NODE=$(hostname -s)

daemons=(slurmd slurmctld)

stop_cluster() {
  for d in "${daemons[@]}"; do
    [ -f "$DIR/$d.bgpid" ] && kill "$(cat "$DIR/$d.bgpid")" 2>/dev/null || true
  done
  # slurmctld saves its state on the way down; wait for both to exit.
  for d in "${daemons[@]}"; do
    [ -f "$DIR/$d.bgpid" ] || continue
    for _ in $(seq 50); do kill -0 "$(cat "$DIR/$d.bgpid")" 2>/dev/null || break; sleep 0.2; done
    rm -f "$DIR/$d.bgpid"
  done
}

install_packages() {
  local missing=()
  for cmd in munged slurmctld slurmd sbatch; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
  [ ${#missing[@]} -eq 0 ] && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
}

start_munge() {
  [ -s /etc/munge/munge.key ] || mungekey -c -k /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  munge -n >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  echo "munge did not start" >&2
  exit 1
}

write_config() {
  local cpus=${SLURM_CPUS:-$(nproc)}
  local mem=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))
  mkdir -p "$DIR"/{etc,state,spool,log}
  cat > "$CONF" <<CONF
ClusterName=simforge
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Schedule immediately: tests submit and expect prompt starts.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
ReturnToService=2
MinJobAge=3600
SlurmdParameters=config_overrides
NodeName=$NODE CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_cluster() {
  install_packages
  stop_cluster
  start_munge
  write_config
  slurmctld -D -f "$CONF" > "$DIR/log/slurmctld.stdout" 2>&1 &
  echo $! > "$DIR/slurmctld.bgpid"
  slurmd -D -f "$CONF" > "$DIR/log/slurmd.stdout" 2>&1 &
  echo $! > "$DIR/slurmd.bgpid"
  for _ in $(seq 150); do
    sinfo -h -o %T 2>/dev/null | grep -qx idle && { echo "SLURM up; export SLURM_CONF=$CONF"; return; }
    sleep 0.2
  done
  echo "the SLURM node did not become idle; logs:" >&2
  tail -n 20 "$DIR"/log/*.log >&2 || true
  exit 1
}

case "${1:-start}" in
  start) start_cluster ;;
  stop) stop_cluster ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
