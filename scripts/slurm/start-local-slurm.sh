#!/usr/bin/env bash
# Copied unchanged from the shared recipe /work/shared/slurm/ (tested single-node Slurm 22.05 +
# slurmrestd v0.0.38; see its README there and docs/slurm.md here), so CI's clean clone has it.
# start-local-slurm.sh — start a real single-node Slurm cluster with its REST API
# (slurmrestd) on this machine, for local development of code that talks to an
# HPC centre's Slurm REST API.
#
# Usage:   sudo ./start-local-slurm.sh [DIR]        (DIR defaults to /tmp/local-slurm)
# Stop:    sudo ./stop-local-slurm.sh  [DIR]
#
# Tested on Debian 12 (Slurm 22.05.8 -> REST API version v0.0.38).
#
# What it does (idempotent: safe to run again; running daemons are left alone):
#   1. installs the missing Debian packages (munge, slurmctld, slurmd, slurmrestd,
#      slurm-client, slurm-wlm-jwt-plugin, curl);
#   2. creates two local users if missing: one that runs slurmrestd (slurmrestd
#      refuses to run as root or as SlurmUser) and one that jobs run as;
#   3. writes slurm.conf / gres.conf and keys under DIR (keys are kept between runs,
#      so tokens stay valid);
#   4. starts a private munged (own key + socket under DIR, does not touch any
#      system-wide munge), slurmctld, slurmd and slurmrestd, recording their PIDs
#      under DIR/run/ for stop-local-slurm.sh;
#   5. waits until the node is idle and slurmrestd answers, then prints the base URL
#      and `export` lines (also written to DIR/env.sh).
#
# Tunables (environment variables):
#   SLURM_LOCAL_REST_PORT   slurmrestd port, bound to 127.0.0.1 only   [6820]
#   SLURM_LOCAL_CTLD_PORT   slurmctld port                             [6817]
#   SLURM_LOCAL_SLURMD_PORT slurmd port                                [6818]
#   SLURM_LOCAL_JOB_USER    user that jobs run as / token is issued to [slurmjob]
#   SLURM_LOCAL_REST_USER   unprivileged user running slurmrestd       [slurmrest]
#   SLURM_LOCAL_GPUS        number of fake GPUs to declare (0 = none)  [2]
#   SLURM_LOCAL_GPU_TYPE    GPU type name used in gres                 [h100]
#   SLURM_LOCAL_CPUS        CPUs to declare (may exceed the real count) [detected]
#   SLURM_LOCAL_MEM_MB      memory (MB) to declare                     [detected]
#   SLURM_LOCAL_TOKEN_LIFESPAN  JWT lifetime in seconds                [86400]
#   SLURM_LOCAL_RESET=1     wipe saved controller state (jobs, node state) first
set -euo pipefail

START_NS=$(date +%s%N)

DIR="${1:-${SLURM_LOCAL_DIR:-/tmp/local-slurm}}"
DIR="$(realpath -m "$DIR")"
REST_PORT="${SLURM_LOCAL_REST_PORT:-6820}"
CTLD_PORT="${SLURM_LOCAL_CTLD_PORT:-6817}"
SLURMD_PORT="${SLURM_LOCAL_SLURMD_PORT:-6818}"
JOB_USER="${SLURM_LOCAL_JOB_USER:-slurmjob}"
REST_USER="${SLURM_LOCAL_REST_USER:-slurmrest}"
GPUS="${SLURM_LOCAL_GPUS:-2}"
GPU_TYPE="${SLURM_LOCAL_GPU_TYPE:-h100}"
TOKEN_LIFESPAN="${SLURM_LOCAL_TOKEN_LIFESPAN:-86400}"
NODE=localhost            # the single node's Slurm name
PARTITION=debug           # the single partition's name

log()  { printf '[start-local-slurm] %s\n' "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (slurmd must be root to start jobs as other users); try: sudo $0 $*"

# ---------------------------------------------------------------- 1. packages
PKGS=(munge slurmctld slurmd slurmrestd slurm-client slurm-wlm-jwt-plugin curl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || die "apt-get not found; install these packages yourself: ${missing[*]}"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps it small; auth_jwt.so lives in slurm-wlm-jwt-plugin,
  # which is only a *recommended* package, hence it is listed explicitly above.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- 2. users
id -u slurm >/dev/null 2>&1 || die "user 'slurm' missing (the slurm packages normally create it)"
id -u munge >/dev/null 2>&1 || die "user 'munge' missing (the munge package normally creates it)"
if ! id -u "$REST_USER" >/dev/null 2>&1; then
  log "creating system user $REST_USER (runs slurmrestd)"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$REST_USER"
fi
if ! id -u "$JOB_USER" >/dev/null 2>&1; then
  log "creating user $JOB_USER (jobs run as this user)"
  useradd --create-home --user-group --shell /bin/bash "$JOB_USER"
fi
REST_GROUP="$(id -gn "$REST_USER")"

# ---------------------------------------------------------------- helpers
# pid_alive PIDFILE NAME: true if the PID recorded in PIDFILE is a live process named NAME
pid_alive() {
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(tr -dc 0-9 < "$1")"
  [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
# port_busy PORT: true if something already listens on 127.0.0.1:PORT
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds
wait_for() {
  local secs="$1" what="$2"; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || die "timed out after ${secs}s waiting for $what (logs: $DIR/log/)"
    sleep 0.2
  done
}

# ---------------------------------------------------------------- 3. files
mkdir -p "$DIR"/{etc,state,spool,log,run,jobs,munge,jwt,fakegpu}
chmod 755 "$DIR" "$DIR/etc" "$DIR/spool" "$DIR/fakegpu"
chown munge:munge "$DIR/munge"; chmod 755 "$DIR/munge"     # munged: socket dir must be 755
chown slurm:slurm "$DIR/state" "$DIR/log" "$DIR/run" "$DIR/jwt"
chmod 700 "$DIR/state" "$DIR/jwt"; chmod 755 "$DIR/log" "$DIR/run"
chmod 1777 "$DIR/jobs"                                       # shared job working dir

if [[ "${SLURM_LOCAL_RESET:-0}" == 1 ]] && ! pid_alive "$DIR/run/slurmctld.pid" slurmctld; then
  log "SLURM_LOCAL_RESET=1: wiping saved controller state"
  find "$DIR/state" -mindepth 1 -delete
fi

# Private munge key (munged requires it to be owned by its user, mode 0400).
if [[ ! -s "$DIR/munge/munge.key" ]]; then
  dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
fi
chown munge:munge "$DIR/munge/munge.key"; chmod 400 "$DIR/munge/munge.key"

# HS256 key used by slurmctld to sign/verify JWTs (AuthAltTypes=auth/jwt).
if [[ ! -s "$DIR/jwt/jwt_hs256.key" ]]; then
  dd if=/dev/urandom of="$DIR/jwt/jwt_hs256.key" bs=32 count=1 status=none
fi
chown slurm:slurm "$DIR/jwt/jwt_hs256.key"; chmod 600 "$DIR/jwt/jwt_hs256.key"

# Hardware as slurmd sees it, e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
HW="$(/usr/sbin/slurmd -C | head -1)"
hw() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
if [[ -n "${SLURM_LOCAL_CPUS:-}" ]]; then
  NODE_CPUS="CPUs=$SLURM_LOCAL_CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$SLURM_LOCAL_CPUS ThreadsPerCore=1"
else
  NODE_CPUS="CPUs=$(hw CPUs) Boards=$(hw Boards) SocketsPerBoard=$(hw SocketsPerBoard) CoresPerSocket=$(hw CoresPerSocket) ThreadsPerCore=$(hw ThreadsPerCore)"
fi
NODE_MEM="${SLURM_LOCAL_MEM_MB:-$(hw RealMemory)}"

# Fake GPUs: Slurm 22.05 drops "file-less" GPUs, and complains unless File= points
# at a character device. We create char devices with the major/minor of /dev/null
# (1,3) under DIR/fakegpu; jobs then get CUDA_VISIBLE_DEVICES=0,1,... as on a real
# GPU node, and Slurm schedules/queues on GPU availability. Nothing real is behind them.
GRES_NODE=""; GRES_TYPES=""
: > "$DIR/etc/gres.conf"
if (( GPUS > 0 )); then
  for ((i = 0; i < GPUS; i++)); do
    [[ -c "$DIR/fakegpu/nvidia$i" ]] || { rm -f "$DIR/fakegpu/nvidia$i"; mknod -m 666 "$DIR/fakegpu/nvidia$i" c 1 3; }
  done
  if (( GPUS == 1 )); then files="$DIR/fakegpu/nvidia0"; else files="$DIR/fakegpu/nvidia[0-$((GPUS - 1))]"; fi
  GRES_TYPES="GresTypes=gpu"
  GRES_NODE="Gres=gpu:$GPU_TYPE:$GPUS"
  cat > "$DIR/etc/gres.conf" <<EOF
# Fake GPUs (no real hardware behind these device files).
AutoDetect=off
NodeName=$NODE Name=gpu Type=$GPU_TYPE File=$files
EOF
fi

cat > "$DIR/etc/slurm.conf" <<EOF
# Single-node local Slurm cluster, generated by start-local-slurm.sh.
ClusterName=localcluster
SlurmctldHost=localhost
SlurmUser=slurm
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT

# Authentication: munge between daemons (private munged, own socket),
# plus JWT so slurmrestd can act on behalf of users who present a token.
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$DIR/jwt/jwt_hs256.key

StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true

# No cgroups: track job processes via /proc, no CPU/memory confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: no accounting/sacct; finished jobs stay queryable for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
# Seconds between SIGTERM and SIGKILL when a job is cancelled.
KillWait=10

SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# Lets the node declare more CPUs/memory than the hardware has (SLURM_LOCAL_CPUS/MEM_MB).
SlurmdParameters=config_overrides

$GRES_TYPES
NodeName=$NODE NodeAddr=127.0.0.1 $NODE_CPUS RealMemory=$NODE_MEM $GRES_NODE State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
chmod 644 "$DIR/etc/slurm.conf" "$DIR/etc/gres.conf"
export SLURM_CONF="$DIR/etc/slurm.conf"

# Which OpenAPI plugin to load. The "dbv0.0.x" plugins need slurmdbd and make
# slurmrestd exit with "slurm not configured with slurmdbd", so load only the
# slurmctld one (v0.0.38 on Slurm 22.05).
PLUGINS="$(setpriv --reuid="$REST_USER" --regid="$REST_GROUP" --clear-groups \
           env SLURM_CONF="$SLURM_CONF" /usr/sbin/slurmrestd -s list 2>&1 \
           | sed -n 's|^slurmrestd: \(openapi/[^ ]*\)$|\1|p')"
if grep -qx 'openapi/v0.0.38' <<<"$PLUGINS"; then
  OPENAPI=openapi/v0.0.38
else
  log "WARNING: openapi/v0.0.38 not available (untested Slurm version); loading all non-slurmdbd OpenAPI plugins"
  OPENAPI="$(grep -v 'db' <<<"$PLUGINS" | paste -sd, -)"
fi
API_VERSION="$(grep -o 'v0\.0\.[0-9]*' <<<"$OPENAPI" | sort -t. -k3 -n | tail -1)"

# ---------------------------------------------------------------- 4. daemons
DAEMONS_NS=$(date +%s%N)
for port_name in "$CTLD_PORT:slurmctld" "$SLURMD_PORT:slurmd" "$REST_PORT:slurmrestd"; do
  port="${port_name%%:*}"; name="${port_name#*:}"
  if ! pid_alive "$DIR/run/$name.pid" "$name" && port_busy "$port"; then
    die "port $port (for $name) is already in use by another process; set SLURM_LOCAL_*_PORT"
  fi
done

if pid_alive "$DIR/munge/munged.pid" munged; then
  log "munged already running (pid $(cat "$DIR/munge/munged.pid"))"
else
  # munged daemonizes itself and writes its own pid file.
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged \
    --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed" \
    --log-file="$DIR/munge/munged.log"
  wait_for 10 munged test -S "$DIR/munge/munge.socket"
  log "munged started (pid $(cat "$DIR/munge/munged.pid"))"
fi

if pid_alive "$DIR/run/slurmctld.pid" slurmctld; then
  log "slurmctld already running (pid $(cat "$DIR/run/slurmctld.pid")); asking it to re-read the config"
  scontrol reconfigure || true
else
  # Started as root, drops to SlurmUser (slurm); daemonizes and writes its pid file.
  /usr/sbin/slurmctld -f "$SLURM_CONF"
  wait_for 30 slurmctld scontrol ping
  log "slurmctld started (pid $(cat "$DIR/run/slurmctld.pid"))"
fi

if pid_alive "$DIR/run/slurmd.pid" slurmd; then
  log "slurmd already running (pid $(cat "$DIR/run/slurmd.pid"))"
else
  # -N: our node is called "localhost", whatever the machine's hostname is.
  /usr/sbin/slurmd -f "$SLURM_CONF" -N "$NODE"
  wait_for 10 slurmd test -s "$DIR/run/slurmd.pid"
  log "slurmd started (pid $(cat "$DIR/run/slurmd.pid"))"
fi

if pid_alive "$DIR/run/slurmrestd.pid" slurmrestd; then
  log "slurmrestd already running (pid $(cat "$DIR/run/slurmrestd.pid"))"
else
  # slurmrestd has no daemon mode: run it in the background in its own session,
  # as the unprivileged user (setpriv execs, so $! is slurmrestd's own PID).
  # SLURM_JWT=daemon + rest_auth/jwt: each HTTP request carries the user's token,
  # which slurmrestd forwards to slurmctld. Listens on 127.0.0.1 only.
  setsid setpriv --reuid="$REST_USER" --regid="$REST_GROUP" --clear-groups \
    env SLURM_CONF="$SLURM_CONF" SLURM_JWT=daemon \
    /usr/sbin/slurmrestd -a rest_auth/jwt -s "$OPENAPI" "127.0.0.1:$REST_PORT" \
    >>"$DIR/log/slurmrestd.log" 2>&1 </dev/null &
  echo $! > "$DIR/run/slurmrestd.pid"
  sleep 0.3
  pid_alive "$DIR/run/slurmrestd.pid" slurmrestd || die "slurmrestd did not start; see $DIR/log/slurmrestd.log"
  log "slurmrestd started (pid $(cat "$DIR/run/slurmrestd.pid"))"
fi

# ---------------------------------------------------------------- 5. readiness
# Node must have registered; a node left DRAIN/DOWN by an earlier run is resumed.
node_ready() {
  local st; st="$(sinfo -h -n "$NODE" -o %T 2>/dev/null)"
  case "$st" in
    idle*|mixed*|allocated*|completing*) return 0 ;;
    drain*|down*|inval*|fail*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true; return 1 ;;
    *) return 1 ;;
  esac
}
wait_for 30 "node $NODE to become idle" node_ready

# Token for JOB_USER, signed by slurmctld with the HS256 key.
TOKEN="$(scontrol token username="$JOB_USER" lifespan="$TOKEN_LIFESPAN" | sed -n 's/^SLURM_JWT=//p')"
[[ -n "$TOKEN" ]] || die "could not obtain a JWT from slurmctld"

BASE_URL="http://127.0.0.1:$REST_PORT"
rest_ping() {
  pid_alive "$DIR/run/slurmrestd.pid" slurmrestd || die "slurmrestd exited; see $DIR/log/slurmrestd.log"
  [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-SLURM-USER-NAME: $JOB_USER" \
        -H "X-SLURM-USER-TOKEN: $TOKEN" "$BASE_URL/slurm/$API_VERSION/ping")" == 200 ]]
}
wait_for 30 "slurmrestd to answer on $BASE_URL" rest_ping

cat > "$DIR/env.sh" <<EOF
export SLURM_CONF=$SLURM_CONF
export SLURM_REST_URL=$BASE_URL
export SLURM_REST_API_VERSION=$API_VERSION
export SLURM_USER_NAME=$JOB_USER
export SLURM_JWT=$TOKEN
export SLURM_JOB_DIR=$DIR/jobs
EOF
chmod 644 "$DIR/env.sh"

NOW_NS=$(date +%s%N)
log "ready: $(( (NOW_NS - START_NS) / 1000000 )) ms in total, $(( (NOW_NS - DAEMONS_NS) / 1000000 )) ms from daemon start to REST ready"
log "cluster 'localcluster', node '$NODE', partition '$PARTITION', $GPUS fake gpu(s) of type '$GPU_TYPE'"
log "base URL: $BASE_URL/slurm/$API_VERSION/  (headers X-SLURM-USER-NAME / X-SLURM-USER-TOKEN)"
log "job working dir (world-writable): $DIR/jobs ; logs: $DIR/log/ ; stop: stop-local-slurm.sh $DIR"
cat "$DIR/env.sh"
