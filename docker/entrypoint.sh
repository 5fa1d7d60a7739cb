#!/bin/sh
# Container entrypoint: check the configuration and the host, say in plain
# words what is missing, then become vtepd (so signals reach it directly:
# SIGTERM stops it cleanly, SIGHUP reloads the configuration).
#
#   (no arguments)          vtepd --config $VTEP_CONFIG
#   --log-format json ...   the same, with these vtepd options
#   vtepctl status, sh ...  run that command instead
#
# VTEP_CONFIG: the config file (default /etc/vtep/vtep.toml).
# VTEP_SKIP_PREFLIGHT=1: start without the host checks.
set -eu

case "${1:-}" in
    "" | -*) ;;
    *) exec "$@" ;;
esac

config=${VTEP_CONFIG:-/etc/vtep/vtep.toml}

if [ ! -e "$config" ]; then
    cat >&2 <<EOF
vtep: no configuration at $config.
  Mount yours, e.g. -v /etc/vtep:/etc/vtep:ro, or set VTEP_CONFIG.
  An annotated example for a two-port gateway is in this image at
  /usr/share/vtep/vtep.toml (cat it with: <image> cat /usr/share/vtep/vtep.toml).
EOF
    exit 2
fi
if [ ! -r "$config" ]; then
    echo "vtep: $config exists but cannot be read by uid $(id -u); check its mode and the volume" >&2
    exit 2
fi

if [ "${VTEP_SKIP_PREFLIGHT:-0}" != 1 ]; then
    if ! vtepd --config "$config" --preflight; then
        cat >&2 <<EOF
vtep: not starting. Each MISSING line above says what to fix on the host or
  in the container's run flags (hugepages: -v /dev/hugepages:/dev/hugepages;
  NICs on vfio-pci: --device /dev/vfio/vfio --device /dev/vfio/GROUP or
  --privileged; see docker/README.md). VTEP_SKIP_PREFLIGHT=1 skips this check.
EOF
        exit 1
    fi
fi

exec vtepd --config "$config" "$@"
