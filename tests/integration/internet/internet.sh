#!/bin/sh
# A simulated internet in a network namespace: DNS (dnsmasq) and HTTPS
# stand-ins for api.telegram.org, api.anthropic.com and api.openai.com, with
# a test CA made here, at test time. Nothing in it routes anywhere else.
#
#   internet.sh up NAME DIR [standin.py serve options...]
#       creates namespace NAME, the service addresses, a test CA and leaf
#       certificates in DIR/certs, dnsmasq and the stand-ins. Options are
#       passed to standin.py serve, e.g. --telegram-token 123:abc
#       --reply TEXT --down telegram.
#   internet.sh attach NAME PEER [CIDR...]
#       connects NAME by a veth pair to PEER (a namespace name, or the PID of
#       a process in the namespace, e.g. an nspawn container's leader) as
#       PEER's uplink: PEER gets $UPLINK_IF (default uplink0) 203.0.113.2/24
#       and a default route via 203.0.113.1. Each CIDR is a network on the
#       PEER side that NAME routes back via 203.0.113.2 (not needed when PEER
#       NATs its own networks out of the uplink).
#   internet.sh down NAME DIR
#       stops the stand-ins and dnsmasq (by the PIDs recorded in DIR),
#       deletes namespace NAME (and with it the veth, both ends) and the
#       private keys in DIR. Logs stay in DIR; the caller removes DIR.
#   internet.sh offnet NAME
#       the destinations (address protocol port) that a client tried
#       outside the services' network; nothing answers them.
#   internet.sh ctl DIR METHOD PATH [JSON]
#       one request to the stand-ins' control socket, DIR/control.sock.
#
# Contract (README.md): uplink 203.0.113.0/24 (RFC 5737; internet side .1,
# peer .2); services on 198.18.0.0/24 (RFC 2544) behind it: .10
# api.telegram.org, .11 api.anthropic.com, .12 api.openai.com, .53 DNS. Not
# RFC 5737 for the services: the pinned OpenClaw's SSRF guard refuses model
# API addresses there. clawfleet's egress mode `internet` blocks neither.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}
UPLINK_IF=${UPLINK_IF:-uplink0}

UPLINK_INTERNET=203.0.113.1
UPLINK_PEER=203.0.113.2
UPLINK_PREFIX=24
# The services' /24 (three octets). See README.md for why the default is
# the RFC 2544 benchmark range and not RFC 5737's 198.51.100.0/24.
SERVICE_NET=${SERVICE_NET:-198.18.0}
DNS_ADDR=$SERVICE_NET.53
# name address service
SERVICES="api.telegram.org $SERVICE_NET.10 telegram
api.anthropic.com $SERVICE_NET.11 anthropic
api.openai.com $SERVICE_NET.12 openai"

die() { echo "internet.sh: $*" >&2; exit 1; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }

# The PID in FILE if that process still runs PROGRAM (a PID can be reused).
live_pid() {
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
  echo "$pid"
}

make_certs() {
  d=$1/certs
  mkdir -p "$d"
  chmod 700 "$d"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=clawfleet test CA $(date +%s)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  echo "$SERVICES" | while read -r host addr service; do
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$d/$host.key" -out "$d/$host.csr" -subj "/CN=$host" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=DNS:$host" "subjectKeyIdentifier=hash" \
      "authorityKeyIdentifier=keyid" >"$d/$host.ext"
    openssl x509 -req -in "$d/$host.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 2 -extfile "$d/$host.ext" -out "$d/$host.pem" 2>/dev/null
    rm -f "$d/$host.csr" "$d/$host.ext"
  done
  rm -f "$d/ca.srl"
}

cmd_up() {
  [ $# -ge 2 ] || die "usage: up NAME DIR [standin options...]"
  name=$1 dir=$2
  shift 2
  [ ! -e "/run/netns/$name" ] || die "namespace $name exists"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  make_certs "$dir"

  ip netns add "$name"
  # From here on a failure takes everything down again.
  trap 'cmd_down "$name" "$dir"' EXIT
  # The service addresses live on lo (local addresses, reached over the
  # uplink like any other: Linux accepts a packet for any local address on
  # any interface; no dummy driver is needed).
  in_ns "$name" ip link set lo up
  in_ns "$name" ip addr add "$DNS_ADDR/32" dev lo
  echo "$SERVICES" | while read -r host addr service; do
    in_ns "$name" ip addr add "$addr/32" dev lo
  done
  # Nothing leaves this namespace: its only routes are its own addresses,
  # the uplink (attach) and an unreachable default. Forwarding is on only so
  # that a packet for any other address is answered at once with ICMP host
  # unreachable (the client sees EHOSTUNREACH) instead of being dropped
  # silently (a connect timeout).
  in_ns "$name" ip route add unreachable default
  in_ns "$name" sysctl -q -w net.ipv4.ip_forward=1
  # Every destination outside the services' /24 that a client tries (e.g.
  # the gateway's hard-coded Telegram fallback address) is recorded:
  # `internet.sh offnet NAME` lists them.
  if command -v nft >/dev/null 2>&1; then
    in_ns "$name" nft -f - <<EOF
table ip offnet {
  set seen { type ipv4_addr . inet_proto . inet_service; flags dynamic; }
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    iifname "up0" ip daddr != $SERVICE_NET.0/24 meta l4proto { tcp, udp } add @seen { ip daddr . meta l4proto . th dport } counter
  }
}
EOF
  fi

  addresses=""
  dnsargs=""
  for line in $(echo "$SERVICES" | tr ' ' ','); do
    host=${line%%,*} rest=${line#*,}
    addr=${rest%%,*} service=${rest#*,}
    addresses="$addresses --service $service=$addr=$host"
    dnsargs="$dnsargs --host-record=$host,$addr"
  done
  : >"$dir/dns.log"
  # shellcheck disable=SC2086
  # Started directly (not through a function, which would run in a
  # subshell), so $! is the PID that ip netns exec becomes by exec.
  ip netns exec "$name" "$DNSMASQ" --conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts --no-poll \
    --listen-address="$DNS_ADDR" --bind-interfaces --port=53 --user=root --group=root \
    $dnsargs --address=/#/ --log-queries=extra --log-facility="$dir/dns.log" </dev/null >"$dir/dnsmasq.out" 2>&1 &
  echo $! >"$dir/dnsmasq.pid"
  # shellcheck disable=SC2086
  ip netns exec "$name" "$PYTHON" "$HERE/standin.py" serve --dir "$dir" $addresses "$@" \
    </dev/null >"$dir/standin.out" 2>&1 &
  echo $! >"$dir/standin.pid"

  i=0
  until "$PYTHON" "$HERE/standin.py" ctl "$dir" GET /state >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$dir/standin.out" >&2; die "the stand-ins did not start"; }
    live_pid "$dir/standin.pid" standin.py >/dev/null || { cat "$dir/standin.out" >&2; die "the stand-ins exited"; }
    sleep 0.1
  done
  live_pid "$dir/dnsmasq.pid" dnsmasq >/dev/null || { cat "$dir/dnsmasq.out" >&2; die "dnsmasq exited"; }
  trap - EXIT
  echo "internet $name up: DNS $DNS_ADDR, CA $dir/certs/ca.pem, control $dir/control.sock"
}

cmd_attach() {
  [ $# -ge 2 ] || die "usage: attach NAME PEER [CIDR...]"
  name=$1 peer=$2
  shift 2
  [ -e "/run/netns/$name" ] || die "no namespace $name"
  case $peer in
    *[!0-9]*) peer_ns() { ip netns exec "$peer" "$@"; } ;;
    *) peer_ns() { nsenter -t "$peer" -n "$@"; } ;;
  esac
  # Both ends are created directly in their namespaces.
  ip link add up0 netns "$name" type veth peer name "$UPLINK_IF" netns "$peer"
  in_ns "$name" ip addr add "$UPLINK_INTERNET/$UPLINK_PREFIX" dev up0
  in_ns "$name" ip link set up0 up
  peer_ns ip addr add "$UPLINK_PEER/$UPLINK_PREFIX" dev "$UPLINK_IF"
  peer_ns ip link set "$UPLINK_IF" up
  peer_ns ip route replace default via "$UPLINK_INTERNET" dev "$UPLINK_IF"
  for cidr in "$@"; do
    in_ns "$name" ip route add "$cidr" via "$UPLINK_PEER" dev up0
  done
}

cmd_down() {
  [ $# -eq 2 ] || die "usage: down NAME DIR"
  name=$1 dir=$2
  for p in standin:standin.py dnsmasq:dnsmasq; do
    file=$dir/${p%%:*}.pid
    if pid=$(live_pid "$file" "${p#*:}"); then
      kill "$pid" 2>/dev/null || true
      i=0
      while [ -d "/proc/$pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
      [ ! -d "/proc/$pid" ] || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
  done
  [ ! -e "/run/netns/$name" ] || ip netns del "$name"
  rm -f "$dir"/certs/*.key "$dir/control.sock"
}

cmd_offnet() {
  [ $# -eq 1 ] || die "usage: offnet NAME"
  in_ns "$1" nft -j list set ip offnet seen 2>/dev/null | "$PYTHON" -c '
import json, sys
for item in json.load(sys.stdin)["nftables"]:
    for e in (item.get("set") or {}).get("elem", []):
        e = e.get("elem", {}).get("val", e) if isinstance(e, dict) else e
        print(" ".join(str(x) for x in e["concat"]))'
}

cmd_ctl() {
  exec "$PYTHON" "$HERE/standin.py" ctl "$@"
}

[ $# -ge 1 ] || die "usage: internet.sh up|attach|down|ctl ..."
verb=$1
shift
case $verb in
  up) cmd_up "$@" ;;
  attach) cmd_attach "$@" ;;
  down) cmd_down "$@" ;;
  ctl) cmd_ctl "$@" ;;
  offnet) cmd_offnet "$@" ;;
  *) die "unknown verb $verb" ;;
esac
