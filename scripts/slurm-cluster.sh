#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying and testing scripts/slurm-extract.sbatch:
#
#   scripts/slurm-cluster.sh start    # install slurm + munge if missing, start munged, slurmctld, slurmd
#   eval "$(scripts/slurm-cluster.sh env)"   # SLURM_CONF for sbatch/squeue/scontrol/sinfo in this shell
#   scripts/slurm-cluster.sh status   # daemons and sinfo
#   scripts/slurm-cluster.sh stop     # cancel its jobs, stop its daemons; the logs stay for a post-mortem
#
# Everything lives in $FEATURIZE_SLURM_DIR (default /tmp/featurize-slurm): etc/slurm.conf, munge/ (a private
# key and socket, so the system's munge, if any, is untouched), state/, spool/, log/ (slurmctld.log,
# slurmd.log, munged.log) and run/ (pid files). The node is `localhost` with CPUs = `nproc`; one partition,
# `debug`, is the default. Accounting is off (no slurmdbd): `sacct` does not work, poll `squeue` instead.
# Runs as root without systemd (Debian 12: Slurm 22.05); no cgroups are needed (proctrack/linuxproc, task/none).
# `start` is idempotent: a running cluster is left as it is; otherwise stale state is cleared and the daemons
# are started afresh. Ports: $FEATURIZE_SLURM_PORT (slurmctld, default 6817) and the next one (slurmd).
set -euo pipefail

DIR=${FEATURIZE_SLURM_DIR:-/tmp/featurize-slurm}
CTLD_PORT=${FEATURIZE_SLURM_PORT:-6817}
SLURMD_PORT=$((CTLD_PORT + 1))
CONF=$DIR/etc/slurm.conf
export SLURM_CONF=$CONF
SOCKET=$DIR/munge/munge.socket
NODE=localhost

log() { echo "slurm-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

# pid of a daemon from its pid file if that process is alive, else nothing.
live_pid() {
  local f=$DIR/run/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_packages() {
  local missing=()
  for c in slurmctld slurmd sbatch munged mungekey; do
    command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install as root: apt-get install -y slurmctld slurmd slurm-client munge"
  log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
  local cpus
  cpus=$(nproc)
  cat > "$CONF.tmp" <<EOF
# Written by scripts/slurm-cluster.sh: a single-node cluster for tests, state under $DIR.
ClusterName=featurize
SlurmctldHost=$NODE
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
# Quick turnaround for tests: a killed or requeued task's processes get SIGKILL 5 s after SIGTERM, and a
# finished job leaves squeue after a few seconds.
KillWait=5
MinJobAge=5
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
}

start_munge() {
  if live_pid munged >/dev/null; then return 0; fi
  [ -s "$DIR/munge/munge.key" ] || {
    mungekey --create --keyfile="$DIR/munge/munge.key" 2>/dev/null \
      || dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
  }
  chmod 0600 "$DIR/munge/munge.key"
  # --force: munged refuses to run as root (and with a socket under /tmp) unless forced.
  munged --force --key-file="$DIR/munge/munge.key" --socket="$SOCKET" --pid-file="$DIR/run/munged.pid" \
    --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
    || die "munged did not start; see $DIR/log/munged.log"
  for _ in $(seq 50); do [ -S "$SOCKET" ] && return 0; sleep 0.1; done
  die "munged started but $SOCKET did not appear; see $DIR/log/munged.log"
}

# Waits until the node is idle (or mixed/allocated: already running jobs); returns 1 after $1 seconds.
wait_idle() {
  local deadline=$((SECONDS + $1)) state=""
  while [ $SECONDS -lt $deadline ]; do
    state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)
    case "$state" in
      idle*|mixed*|allocated*|completing*) return 0 ;;
      down*|drain*|drained*|fail*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  log "node state after $1 s: '${state:-no answer}'"
  return 1
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "run as root (slurmd launches jobs and munged's key is root's)"
  export PATH=$PATH:/usr/sbin:/sbin
  install_packages
  if live_pid slurmctld >/dev/null && live_pid slurmd >/dev/null && live_pid munged >/dev/null \
     && scontrol ping >/dev/null 2>&1; then
    wait_idle 30 || die "the cluster runs but its node is not usable; see $DIR/log/"
    log "already running (SLURM_CONF=$CONF)"
    return 0
  fi
  # Something is half up: stop it, then start from clean state (logs of the last run move to log/previous/).
  cmd_stop >/dev/null 2>&1 || true
  mkdir -p "$DIR"/{etc,munge,state,spool,log,run}
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log/previous"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log/previous"
  find "$DIR/log" -maxdepth 1 -type f -exec mv {} "$DIR/log/previous/" \;
  chmod 0700 "$DIR/munge"
  write_conf
  start_munge
  slurmctld -f "$CONF" || die "slurmctld did not start; see $DIR/log/slurmctld.log"
  for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  scontrol ping >/dev/null 2>&1 || die "slurmctld does not answer; see $DIR/log/slurmctld.log"
  slurmd -f "$CONF" -N "$NODE" || die "slurmd did not start; see $DIR/log/slurmd.log"
  wait_idle 120 || die "node $NODE did not become idle; see $DIR/log/slurmd.log and slurmctld.log"
  log "started: node $NODE with $(nproc) CPUs, partition debug (SLURM_CONF=$CONF, logs in $DIR/log)"
}

# Sends SIGTERM to the daemon named $1 (by its pid file), then SIGKILL after 10 s.
stop_daemon() {
  local pid
  pid=$(live_pid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$1 ($pid) ignored SIGTERM for 10 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  export PATH=$PATH:/usr/sbin:/sbin
  if live_pid slurmctld >/dev/null && command -v scancel >/dev/null; then
    # Cancel this cluster's jobs first, so no job step outlives its slurmd.
    if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
      scancel --full --quiet $(squeue -h -o %i 2>/dev/null | sort -u) 2>/dev/null || true
      for _ in $(seq 100); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  stop_daemon slurmd
  stop_daemon slurmctld
  stop_daemon munged
  rm -f "$DIR"/run/*.pid
  log "stopped (logs kept in $DIR/log)"
}

cmd_status() {
  export PATH=$PATH:/usr/sbin:/sbin
  local up=0
  for d in munged slurmctld slurmd; do
    if pid=$(live_pid "$d"); then echo "$d: running (pid $pid)"; up=$((up + 1)); else echo "$d: not running"; fi
  done
  [ $up -eq 3 ] || return 1
  sinfo -N -o '%N %T %c %P' && squeue
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env   (state in \$FEATURIZE_SLURM_DIR, default /tmp/featurize-slurm)" >&2; exit 2 ;;
esac
