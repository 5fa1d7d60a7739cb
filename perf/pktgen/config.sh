#!/usr/bin/env bash
# Prints a vtepd config that matches the scripts' defaults: underlay
# 192.0.2.1/24 with MAC 02:00:00:00:01:01, the remote VTEP 192.0.2.10 at
# pktgen port 1's MAC (a static neighbour: pktgen does not answer ARP),
# VNI 100 untagged on the access port, encap.lua's 4096 destination MACs
# behind that remote and decap.lua's inner destination on the access port.
# usage: config.sh UNDERLAY_PORT ACCESS_PORT PKTGEN_PORT1_MAC [EAL_ARG...]
#   perf/pktgen/config.sh 0000:03:00.0 0000:03:00.1 3c:fd:fe:00:00:01 \
#       -l 1,2 -n 4 --file-prefix=vtep -a 0000:03:00.0 -a 0000:03:00.1 > /etc/vtep/vtep.toml
set -euo pipefail
[ $# -ge 3 ] || { sed -n 's/^# \{0,1\}//; 2,9p' "$0" >&2; exit 64; }
underlay=$1 access=$2 peer_mac=$3; shift 3
args=""
for a in "$@"; do args+="${args:+, }\"$a\""; done
cat <<CONF
[eal]
args = [$args]

[dataplane]
workers = 1

[underlay]
port = "$underlay"
mac = "02:00:00:00:01:01"
address = "192.0.2.1/24"

[[neighbor]]
ip = "192.0.2.10"
mac = "$peer_mac"

[[access]]
port = "$access"
vni = 100

[[vni]]
id = 100
flood = ["192.0.2.10"]

# decap.lua's inner destination MAC ("tenant" in ASCII), on the access port.
[[fdb]]
vni = 100
mac = "74:65:6e:61:6e:74"
port = "$access"
CONF
for i in $(seq 0 4095); do
  printf '\n[[fdb]]\nvni = 100\nmac = "02:dd:00:00:%02x:%02x"\nremote = "192.0.2.10"\n' $((i >> 8)) $((i & 255))
done
