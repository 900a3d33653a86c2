#!/bin/bash
# An emulated multi-provider cluster on one machine: hosts in network namespaces, joined by
# veth links through a bridge per provider ("router"), each provider's shared uplink into a
# "core" namespace. Bandwidth is shaped with tbf; one-way latency between providers comes
# from a userspace delay line (scripts/delayline.c; this kernel has no netem). Ranks are
# launched by mpirun inside one emulated host, with this script as its rsh agent.
#
#   scripts/emucluster.sh up [-p PROVIDERS] [-H HOSTS] [--intra RATE] [--inter RATE] [--delay-ms MS]
#   scripts/emucluster.sh run [--ppn N] [--place blocked|interleaved] [--ompi-ucx] [--strata-site]
#                             [-x VAR=VAL]... -- PROG ARGS
#   scripts/emucluster.sh down
#   scripts/emucluster.sh with [up options] -- [run options] -- PROG ARGS   (up, run, down)
#   scripts/emucluster.sh with [up options] -- --direct -- PROG ARGS   (PROG places its own
#                             processes in the hosts' namespaces: EMU_HOSTS/EMU_NETNS/EMU_ADDRS)
#   scripts/emucluster.sh check       (exit 0 when namespaces can be made here, 77 when not)
#   scripts/emucluster.sh status
#
# Defaults: 2 providers x 2 hosts, 10gbit inside a provider (each host's NIC), 1gbit shared
# uplink per provider, no added delay. --delay-ms D adds D ms one way between providers
# (D/2 on each provider's uplink). EMU_NAME (default "semu") prefixes every namespace, so a
# stale cluster from a failed run is found and removed by the next "up" or "down".
# Hosts are named p<provider>h<host>, addresses 10.203.<provider>.<host+1>/16, NIC eth0.
# "run --strata-site" gives each rank STRATA_SITE=p<provider> (from its host name).
set -u
NAME=${EMU_NAME:-semu}
STATE=/run/strata-emu/$NAME
SELF=$(readlink -f "$0")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)

die() { echo "emucluster: $*" >&2; exit 1; }
q() { "$@" >/dev/null 2>&1; }
# can namespace $1 reach address $2? (a refused TCP connection is an answer too; no ping here)
reach() {
  local out
  out=$(ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/9" 2>&1) && return 0
  case "$out" in *refused*) return 0 ;; esac
  return 1
}

check() {
  if [ "$(id -u)" != 0 ]; then echo "emucluster: needs root (network namespaces)"; return 77; fi
  command -v ip >/dev/null || { echo "emucluster: iproute2 missing (scripts/install-deps.sh installs it)"; return 1; }
  local t="${NAME}-probe$$"
  if ! q ip netns add "$t"; then echo "emucluster: cannot create network namespaces here"; return 77; fi
  local ok=0
  q ip -n "$t" link add br0 type bridge || ok=77
  q ip netns del "$t"
  [ $ok = 0 ] || echo "emucluster: cannot create bridges inside namespaces here"
  return $ok
}

delayline_bin() {
  for b in "$ROOT/build/bin/strata_delayline" "$STATE/strata_delayline"; do
    [ -x "$b" ] && { echo "$b"; return; }
  done
  cc -O2 -o "$STATE/strata_delayline" "$ROOT/scripts/delayline.c" || die "cannot build the delay line"
  echo "$STATE/strata_delayline"
}

down() {
  # delay lines first (they hold TAPs), then every process left in our namespaces
  if [ -d "$STATE" ]; then
    for f in "$STATE"/*.pid; do [ -f "$f" ] && q kill "$(cat "$f")"; done
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NAME}-"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do q kill -9 "$pid"; done
  done
  sleep 0.1
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NAME}-"); do
    q ip netns del "$ns"
    rm -rf "/etc/netns/$ns"
  done
  rm -rf "$STATE"
}

# tbf with a burst of at least one 64 KiB GSO frame and a queue of a few ms at line rate
shape() { # ns dev rate queue_ms
  local burst=256kb
  case "$3" in *gbit) [ "${3%gbit}" -ge 5 ] 2>/dev/null && burst=1mb ;; esac
  ip -n "$1" link set "$2" gso_max_size 65536 2>/dev/null
  ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "$3" burst "$burst" latency "$4ms" ||
    die "tc tbf on $1/$2 failed"
}

up() {
  local P=2 H=2 intra=10gbit inter=1gbit delay=0
  while [ $# -gt 0 ]; do
    case "$1" in
      -p) P=$2; shift ;;
      -H) H=$2; shift ;;
      --intra) intra=$2; shift ;;
      --inter) inter=$2; shift ;;
      --delay-ms) delay=$2; shift ;;
      *) die "up: unknown option $1" ;;
    esac
    shift
  done
  check >/dev/null || { check; exit 77; }
  down
  mkdir -p "$STATE"
  trap 'down; exit 1' INT TERM
  local core="${NAME}-core" hosts="" hostsfile="$STATE/hosts"
  printf '127.0.0.1 localhost\n' >"$hostsfile"
  for ((p = 0; p < P; p++)); do for ((h = 0; h < H; h++)); do
    printf '10.203.%d.%d p%dh%d\n' "$p" $((h + 1)) "$p" "$h" >>"$hostsfile"
  done; done
  ip netns add "$core" || die "cannot add $core"
  ip -n "$core" link set lo up
  ip -n "$core" link add br0 type bridge && ip -n "$core" link set br0 up
  local half_us
  half_us=$(awk -v d="$delay" 'BEGIN{printf "%d", d * 500}')
  for ((p = 0; p < P; p++)); do
    local r="${NAME}-p${p}-r"
    ip netns add "$r" && ip -n "$r" link set lo up
    ip -n "$r" link add br0 type bridge && ip -n "$r" link set br0 up
    if [ "$half_us" -gt 0 ]; then
      ip -n "$r" tuntap add dev wan mode tap vnet_hdr || die "tuntap in $r"
      ip -n "$core" tuntap add dev "p$p" mode tap vnet_hdr || die "tuntap in $core"
      "$(delayline_bin)" "$r" wan "$core" "p$p" "$half_us" 7200 2>>"$STATE/delayline.log" &
      echo $! >"$STATE/delay-p$p.pid"
    else
      ip link add name wan netns "$r" type veth peer name "p$p" netns "$core" || die "veth uplink p$p"
    fi
    ip -n "$r" link set wan master br0 && ip -n "$r" link set wan up
    ip -n "$core" link set "p$p" master br0 && ip -n "$core" link set "p$p" up
    shape "$r" wan "$inter" 20
    shape "$core" "p$p" "$inter" 20
    for ((h = 0; h < H; h++)); do
      local hn="p${p}h${h}" ns="${NAME}-p${p}-h${h}"
      ip netns add "$ns" && ip -n "$ns" link set lo up
      ip link add name eth0 netns "$ns" type veth peer name "h$h" netns "$r" || die "veth $hn"
      ip -n "$ns" addr add "10.203.$p.$((h + 1))/16" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$r" link set "h$h" master br0 && ip -n "$r" link set "h$h" up
      shape "$ns" eth0 "$intra" 10
      shape "$r" "h$h" "$intra" 10
      mkdir -p "/etc/netns/$ns" && cp "$hostsfile" "/etc/netns/$ns/hosts"
      hosts="$hosts $hn"
    done
  done
  trap - INT TERM
  cat >"$STATE/config" <<EOF
P=$P
H=$H
INTRA=$intra
INTER=$inter
DELAY_MS=$delay
HOSTS="${hosts# }"
EOF
  # the TAPs carry traffic once their delay line has opened them
  if [ "$half_us" -gt 0 ]; then
    for i in $(seq 50); do
      local n=0
      for ((p = 0; p < P; p++)); do ip -n "$core" link show "p$p" | grep -q LOWER_UP && n=$((n + 1)); done
      [ $n = "$P" ] && break
      sleep 0.05
    done
  fi
  # wait until the far corner answers (bridges learn, links settle)
  local last="10.203.$((P - 1)).$H"
  for i in $(seq 50); do
    reach "${NAME}-p0-h0" "$last" && break
    sleep 0.1
  done
  reach "${NAME}-p0-h0" "$last" || { down; die "emulated hosts cannot reach each other"; }
  echo "emucluster $NAME: $P providers x $H hosts, $intra inside, $inter uplinks, ${delay} ms one-way between providers"
}

load() { [ -f "$STATE/config" ] || die "no cluster named $NAME is up (scripts/emucluster.sh up)"; . "$STATE/config"; }

host_ns() { # pXhY -> namespace
  local p=${1#p}; p=${p%%h*}; local h=${1##*h}
  echo "${NAME}-p${p}-h${h}"
}

# rsh agent: [ssh options] HOST word...; runs the words with /bin/sh inside the host, with
# a clean environment as ssh would give
agent() {
  load
  while [ $# -gt 0 ]; do
    case " $HOSTS " in *" $1 "*) break ;; esac
    shift
  done
  [ $# -gt 0 ] || die "agent: no emulated host named"
  local h=$1; shift
  exec ip netns exec "$(host_ns "$h")" unshare --uts -- "$SELF" inhost "$h" "$*"
}

inhost() { # HOST CMD: inside the namespace, set the hostname, then run CMD clean
  hostname "$1"
  exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" \
    LANG=C.UTF-8 EMU_NAME="$NAME" /bin/sh -c "$2"
}

run() {
  load
  local ppn=2 place=blocked ompi_ucx=0 site=0 xs=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --ppn) ppn=$2; shift ;;
      --place) place=$2; shift ;;
      --ompi-ucx) ompi_ucx=1 ;;
      --strata-site) site=1 ;;
      -x) xs+=(-x "$2"); shift ;;
      --) shift; break ;;
      *) break ;;
    esac
    shift
  done
  [ $# -gt 0 ] || die "run: no program"
  local hl="" order=""
  if [ "$place" = interleaved ]; then
    for ((h = 0; h < H; h++)); do for ((p = 0; p < P; p++)); do order="$order p${p}h${h}"; done; done
  else
    order=$HOSTS
  fi
  for hn in $order; do hl="$hl,$hn:$ppn"; done
  local map=slot
  [ "$place" = interleaved ] && map=node
  printf '#!/bin/sh\nexec %s agent "$@"\n' "$SELF" >"$STATE/agent"
  chmod +x "$STATE/agent"
  local mca=(--mca plm_rsh_agent "$STATE/agent" --mca oob_tcp_if_include eth0
             --mca btl_tcp_if_include eth0 --mca mpi_yield_when_idle 1 --mca hwloc_base_binding_policy none
             --mca orte_keep_fqdn_hostnames 1 --mca plm_rsh_no_tree_spawn 1)
  [ $ompi_ucx = 1 ] && mca+=(--mca pml ucx --mca pml_ucx_tls any --mca pml_ucx_devices any)
  # STRATA_SITE per rank: a wrapper derives it from the rank's host name
  local sitex=()
  [ "$site" = 1 ] && sitex=("$SELF" site-exec)
  local cmd=(mpirun --allow-run-as-root --bind-to none -np $((ppn * P * H)) --host "${hl#,}"
             --map-by "$map" "${mca[@]}" -x UCX_TLS="${UCX_TLS:-tcp,self}" -x UCX_NET_DEVICES=eth0
             -x STRATA_SOCKET_IFNAME=eth0 -x PATH -x EMU_NAME="$NAME" "${xs[@]}" "${sitex[@]}" "$@")
  local first head_ns
  first=$(echo $order | cut -d' ' -f1)
  head_ns=$(host_ns "$first")
  ip netns exec "$head_ns" unshare --uts -- /bin/sh -c 'hostname "$0"; exec "$@"' "$first" "${cmd[@]}"
}

# A program on this machine (not in a namespace) that places its own processes: it gets the
# hosts in order (EMU_HOSTS), their namespaces (EMU_NETNS, under /var/run/netns) and
# addresses (EMU_ADDRS), and UCX and the bootstrap pointed at the emulated NICs.
direct() {
  load
  local ns="" addrs="" hn
  for hn in $HOSTS; do
    ns="$ns $(host_ns "$hn")"
    local p=${hn#p}; p=${p%%h*}; local h=${hn##*h}
    addrs="$addrs 10.203.$p.$((h + 1))"
  done
  EMU_NAME="$NAME" EMU_HOSTS="$HOSTS" EMU_NETNS="${ns# }" EMU_ADDRS="${addrs# }" \
    UCX_TLS="${UCX_TLS:-tcp,self}" UCX_NET_DEVICES=eth0 STRATA_SOCKET_IFNAME=eth0 "$@"
}

status() {
  load
  echo "cluster $NAME: $P providers x $H hosts ($HOSTS); $INTRA inside, $INTER uplinks, $DELAY_MS ms one-way"
  ip netns list | grep "^${NAME}-" | awk '{print "  " $1}'
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  run) run "$@" ;;
  agent) agent "$@" ;;
  inhost) inhost "$@" ;;
  site-exec) h=$(hostname); STRATA_SITE=${h%%h*} exec "$@" ;;
  check) check ;;
  status) status ;;
  with)
    upargs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do upargs+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    up "${upargs[@]}" >/dev/null || exit $?
    trap 'down' EXIT
    trap 'exit 1' INT TERM
    if [ "${1:-}" = --direct ]; then
      shift
      [ "${1:-}" = -- ] && shift
      direct "$@"
    else
      run "$@"
    fi
    ;;
  *) sed -n '2,24p' "$SELF" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] && exit 0; exit 2 ;;
esac
