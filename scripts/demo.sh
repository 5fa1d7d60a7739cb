#!/usr/bin/env bash
# The demo: builds vtepd, writes traffic fixtures, runs vtepd on net_pcap
# ports (a tenant access port and the underlay) and shows it working with
# vtepctl: encap to a static and a learned remote, flooding, decap,
# learning, and the accounting. Everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bins -q
work=$(mktemp -d /tmp/vtep-demo.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

./target/release/vtep-fixtures --dir "$work" --count 1000
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -ge 256 ]; then mem='"--in-memory"'; else mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
cat > "$work/vtep.toml" <<TOML
[eal]
args = ["-l", "0-1", "--no-pci", $mem, "--file-prefix=vtep-demo-$$",
        "--vdev=net_pcap0,rx_pcap=$work/underlay.pcap,tx_pcap=$work/underlay-out.pcap",
        "--vdev=net_pcap1,rx_pcap=$work/access.pcap,tx_pcap=$work/access-out.pcap"]
[underlay]
port = "net_pcap0"
mac = "02:00:00:00:01:01"
address = "192.0.2.1/24"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"
[[neighbor]]
ip = "192.0.2.3"
mac = "02:00:00:00:03:03"
[[access]]
port = "net_pcap1"
vni = 100
[[vni]]
id = 100
flood = ["192.0.2.2", "192.0.2.3"]
[[fdb]]
vni = 100
mac = "02:00:00:00:00:aa"
remote = "192.0.2.2"
[control]
socket = "$work/vtep.sock"
TOML

cat <<'TXT'

   tenant VM 02:..:01 ──[net_pcap1: access, VNI 100]── vtepd 192.0.2.1 ──[net_pcap0: underlay]──┬── VTEP 192.0.2.2 (static: 02:..:aa)
                                                                                               └── VTEP 192.0.2.3 (learned: 02:..:bb)
TXT
RUST_LOG=warn ./target/release/vtepd --config "$work/vtep.toml" &
pid=$!
ctl() { ./target/release/vtepctl --socket "$work/vtep.sock" "$@"; }
for _ in $(seq 50); do [ -S "$work/vtep.sock" ] && break; sleep 0.1; done
sleep 1
echo; echo "== vtepctl status"; ctl status
echo; echo "== vtepctl fdb show"; ctl fdb show
echo; echo "== vtepctl stats"; ctl stats
kill -TERM "$pid"; wait "$pid"; pid=""
echo; echo "== first VXLAN packets vtepd sent on the underlay"
if command -v tcpdump >/dev/null; then tcpdump -nr "$work/underlay-out.pcap" 2>/dev/null | grep VXLAN | head -4; fi
echo; echo "vtepd stopped cleanly; demo files removed."
