#!/usr/bin/env bash
# Builds the container image and smoke-tests its contents without a
# container runtime (this machine has no registry and cannot run containers):
#
# 1. base image: Debian 12 minbase from debootstrap, imported with podman
#    and tagged as the base the Dockerfile names (cached as a tarball in
#    $VTEP_CACHE, default /var/cache/vtep);
# 2. `podman build --isolation=chroot --target runtime-prebuilt` with the
#    release binaries built on this host;
# 3. the image's filesystem is exported and run with chroot in a private
#    mount namespace: vtepd/vtepctl/DPDK tools answer, the shipped example
#    config passes --check, the entrypoint explains a missing config and
#    missing hugepages, and vtepd forwards pcap fixtures through the
#    entrypoint, checked with vtepctl inside the image and tcpdump outside.
#
# Root only. Skips (exit 0, with the reason) when podman cannot be had.
# --no-pci everywhere: no device of this machine is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "smoke: $*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
    say "skipped: needs root (podman storage, chroot, mount namespace)"
    exit 0
fi
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    say "installing podman and debootstrap"
    install() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            podman debootstrap uidmap >/dev/null 2>&1
    }
    install || { apt-get update -qq >/dev/null 2>&1; install; } || true
fi
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    say "skipped: podman or debootstrap is not installed and apt-get could not install it"
    exit 0
fi

base=docker.io/library/debian:bookworm-slim
image=localhost/vtep:smoke
cache=${VTEP_CACHE:-/var/cache/vtep}
tarball=$cache/debian-bookworm-minbase.tar
work=$(mktemp -d /tmp/vtep-smoke.XXXXXX)
ctr=""
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    if [ -n "$ctr" ]; then podman rm -f "$ctr" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. Base image. A cached tarball older than 30 days is made again so the
#    base gets Debian's security updates.
if [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime -30)" ]; then
    say "base from cache $tarball"
else
    say "debootstrap --variant=minbase bookworm (about 2 minutes)"
    mkdir -p "$cache"
    rootfs=$work/rootfs
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
fi
if ! podman image exists "$base" || [ "$tarball" -nt "$cache/imported" ]; then
    podman import --change 'CMD ["/bin/bash"]' "$tarball" "$base" >"$work/import.log" 2>&1 \
        || { cat "$work/import.log"; fail "podman import"; }
    touch "$cache/imported"
fi

# 2. The image, from the binaries `cargo build --release` made.
cargo build --release -q -p vtep-dataplane -p vtep-api --bin vtepd --bin vtepctl
cargo build --release -q -p vtep-perf --bin vtep-fixtures
say "podman build --isolation=chroot --target runtime-prebuilt"
timeout 900 podman build --isolation=chroot --pull=never -f docker/Dockerfile \
    --target runtime-prebuilt -t "$image" . >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; fail "podman build"; }
# The previous smoke image, now untagged, is not needed.
podman image prune -f >/dev/null 2>&1 || true

# 3. Its filesystem, run with chroot.
root=$work/root
mkdir -p "$root"
ctr=$(podman create "$image")
podman export "$ctr" | tar -x -C "$root"
mapfile -t image_env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$image" | sed '/^$/d')
entrypoint=$(podman image inspect --format '{{index .Config.Entrypoint 0}}' "$image")

# Runs a command inside the image's filesystem with the image's environment.
# unshare does not fork and chroot execs, so in `(exec_in_image ...) &` "$!"
# is the command itself.
in_image() { (exec_in_image "$@"); }
exec_in_image() {
    exec unshare -m --propagation private -- sh -c '
        r=$1; shift
        mount -t proc proc "$r/proc" && mount --bind /dev "$r/dev" && mount --bind /sys "$r/sys"
        exec chroot "$r" "$@"' sh "$root" env -i "${image_env[@]}" HOME=/root "$@"
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=$(in_image vtepd --version)
[ "$out" = "vtepd $version" ] || fail "vtepd --version printed '$out', want 'vtepd $version'"
in_image vtepctl --version >/dev/null || fail "vtepctl --version"
in_image dpdk-devbind.py --help >/dev/null || fail "dpdk-devbind.py --help"
in_image dpdk-hugepages.py --help >/dev/null || fail "dpdk-hugepages.py --help"
in_image dpdk-dumpcap -h >/dev/null 2>&1 || fail "dpdk-dumpcap -h"
say "vtepd, vtepctl, dpdk-devbind.py, dpdk-hugepages.py, dpdk-dumpcap run in the image"

in_image vtepd --config /usr/share/vtep/vtep.toml --check >/dev/null \
    || fail "the shipped example config does not pass --check"
say "shipped example config passes vtepd --check"

# The entrypoint explains what is missing instead of starting.
set +e
msg=$(in_image "$entrypoint" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q "no configuration at /etc/vtep/vtep.toml" <<<"$msg" \
    || fail "entrypoint without a config: rc $rc, '$msg'"

fixtures=/var/lib/vtep/smoke
mkdir -p "$root$fixtures"
./target/release/vtep-fixtures --dir "$root$fixtures" --count 100 >/dev/null
write_config() { # $1: extra EAL arguments
    cat >"$root/etc/vtep/vtep.toml" <<EOF
[eal]
args = ["-l", "0-1", "--no-pci", $1 "--file-prefix=vtep-smoke-$$",
        "--vdev=net_pcap0,rx_pcap=$fixtures/underlay.pcap,tx_pcap=$fixtures/ul_out.pcap",
        "--vdev=net_pcap1,rx_pcap=$fixtures/access.pcap,tx_pcap=$fixtures/acc_out.pcap"]
[dataplane]
workers = 1
mbufs = 8191
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
[[fdb]]
vni = 100
mac = "02:00:00:00:00:bb"
remote = "192.0.2.3"
[control]
socket = "/run/vtep/vtep.sock"
EOF
}

# Hugepages are not mounted inside the chroot: the entrypoint must say so.
write_config ""
set +e
msg=$(in_image "$entrypoint" 2>&1); rc=$?
set -e
[ "$rc" = 1 ] && grep -q "MISSING: no hugetlbfs mount" <<<"$msg" && grep -q "vtep: not starting" <<<"$msg" \
    || fail "entrypoint without hugepages: rc $rc, '$msg'"
say "entrypoint explains a missing config and missing hugepages"

# Forwarding: 201 tenant frames (200 unicast to two remotes, 1 broadcast
# flooded to both) and 100 VXLAN packets from 192.0.2.3.
write_config '"--no-huge", "-m", "256", "--no-shconf",'
(exec_in_image "$entrypoint" --log-format json >"$work/vtepd.log" 2>&1) &
pid=$!
stats=""
for _ in $(seq 1 100); do
    if stats=$(in_image vtepctl --json stats 2>/dev/null) \
        && python3 -c 'import json,sys; a=json.loads(sys.argv[1])["accounting"]; sys.exit(0 if a["forwarded"] >= 301 else 1)' "$stats"; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/vtepd.log"; fail "vtepd exited early"; }
    sleep 0.1
done
kill -INT "$pid"
timeout 20 tail --pid="$pid" -f /dev/null || { kill -KILL "$pid"; fail "vtepd did not stop on SIGINT"; }
wait "$pid" || { cat "$work/vtepd.log"; fail "vtepd did not exit 0 on SIGINT"; }
python3 - "$stats" <<'EOF' || { cat "$work/vtepd.log"; fail "stats from vtepctl inside the image"; }
import json, sys
s = json.loads(sys.argv[1])
a = s["accounting"]
assert a["rx_packets"] == a["forwarded"] + a["dropped"] + a["punted"], a
assert a["forwarded"] == 301 and a["dropped"] == 0, a
EOF
# tcpdump prints the inner frame of a VXLAN packet on a line of its own.
vx=$(tcpdump -nn -r "$root$fixtures/ul_out.pcap" 'udp dst port 4789' 2>/dev/null | grep -c "VXLAN.*vni 100")
acc=$(tcpdump -nn -r "$root$fixtures/acc_out.pcap" 2>/dev/null | wc -l)
[ "$vx" = 202 ] || fail "underlay capture has $vx VXLAN packets, want 202"
[ "$acc" = 100 ] || fail "access capture has $acc frames, want 100"
[ ! -e "$root/run/vtep/vtep.sock" ] || fail "control socket left behind"
say "vtepd in the image forwarded 201 frames into 202 VXLAN packets and decapsulated 100"
# The systemd unit: no unknown keys, commands exist (pointed at the build).
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/local/bin/vtepd#$PWD/target/release/vtepd#g" docker/vtepd.service >"$work/vtepd.service"
    msg=$(systemd-analyze verify "$work/vtepd.service" 2>&1) && [ -z "$msg" ] \
        || fail "systemd-analyze verify docker/vtepd.service: $msg"
    say "docker/vtepd.service passes systemd-analyze verify"
else
    say "docker/vtepd.service not verified: systemd-analyze is not installed"
fi
# compose.yaml parses and matches the example config's lcores.
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - <<'PY' || fail "docker/compose.yaml"
import yaml, tomllib
c = yaml.safe_load(open("docker/compose.yaml"))["services"]["vtepd"]
t = tomllib.load(open("docker/vtep.toml", "rb"))
args = t["eal"]["args"]
lcores = set(int(x) for x in args[args.index("-l") + 1].split(","))
lo, hi = (int(x) for x in c["cpuset"].split("-"))
assert lcores == set(range(lo, hi + 1)), (lcores, c["cpuset"])
vols = [v.split(":")[0] for v in c["volumes"]]
for v in ["/dev/hugepages", "/etc/vtep", "/run/vtep"]:
    assert v in vols, v
assert "/dev/vfio/vfio" in c["devices"]
PY
    say "docker/compose.yaml parses; its cpuset matches the example's lcores"
fi
say "ok ($(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}') image)"
