#!/usr/bin/env bash
# Copied unchanged from the shared recipe /work/shared/slurm/ (tested single-node Slurm 22.05 +
# slurmrestd v0.0.38; see its README there and docs/slurm.md here), so CI's clean clone has it.
# stop-local-slurm.sh — stop the local Slurm cluster started by start-local-slurm.sh.
#
# Usage: sudo ./stop-local-slurm.sh [DIR]     (DIR defaults to /tmp/local-slurm)
#
# Cancels the cluster's remaining jobs, then stops slurmrestd, slurmd, slurmctld and
# munged using only the PIDs recorded under DIR (each PID is checked to still be the
# expected program before it is signalled). Configs, keys, logs and saved state are
# kept; delete DIR to start from scratch (or use SLURM_LOCAL_RESET=1 when starting).
set -euo pipefail

DIR="${1:-${SLURM_LOCAL_DIR:-/tmp/local-slurm}}"
DIR="$(realpath -m "$DIR")"
log() { printf '[stop-local-slurm] %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { log "ERROR: must run as root; try: sudo $0 $*"; exit 1; }
[[ -d "$DIR/run" ]] || { log "nothing to stop in $DIR"; exit 0; }
export SLURM_CONF="$DIR/etc/slurm.conf"

# recorded_pid PIDFILE NAME: print the recorded PID if it is a live process named NAME
recorded_pid() {
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(tr -dc 0-9 < "$1")"
  [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] || return 1
  echo "$pid"
}

# alive PID: the process exists and is not a zombie
alive() {
  local st
  st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$st" && "$st" != Z ]]
}

# stop_daemon PIDFILE NAME: SIGTERM, wait up to 15 s, then SIGKILL
stop_daemon() {
  local pidfile="$1" name="$2" pid i
  if ! pid="$(recorded_pid "$pidfile" "$name")"; then
    log "$name: not running"; rm -f "$pidfile"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 75; i++)); do
    alive "$pid" || break
    sleep 0.2
  done
  if alive "$pid"; then
    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "$name (pid $pid) stopped"
}

# 1. Cancel the jobs of this cluster while the controller is still up, so that no
#    job processes outlive the daemons (slurmstepd keeps running without slurmd).
if recorded_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
  jobs="$(squeue -h -o %A 2>/dev/null || true)"
  if [[ -n "$jobs" ]]; then
    log "cancelling jobs: $(echo $jobs)"
    # shellcheck disable=SC2086
    scancel $jobs || true
    for ((i = 0; i < 100; i++)); do
      [[ -z "$(squeue -h -o %A 2>/dev/null)" ]] && break
      sleep 0.2
    done
    [[ -z "$(squeue -h -o %A 2>/dev/null)" ]] || log "WARNING: some jobs are still ending"
  fi
fi

# 2. Daemons, in reverse start order.
stop_daemon "$DIR/run/slurmrestd.pid" slurmrestd
stop_daemon "$DIR/run/slurmd.pid"     slurmd
stop_daemon "$DIR/run/slurmctld.pid"  slurmctld
stop_daemon "$DIR/munge/munged.pid"   munged
log "done"
