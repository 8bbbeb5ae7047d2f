#!/usr/bin/env bash
# Make the Debian base image of the execution environment, unless it exists.
#
# Usage: hack/ee_base_image.sh IMAGE_REPO      (prints IMAGE_REPO:<inputs hash>)
#
# No public image registry is reachable from the machines this project is
# built on, so the base comes from Debian's own mirror (the one apt's sources
# name): debootstrap --variant=minbase trixie (Debian 13, Python 3.13: what
# ansible-core 2.21 needs) with python3, python3-venv,
# python3-pip and ca-certificates, then `podman import`. Two additions make
# ansible-builder's scripts work on Debian:
#   /usr/bin/dnf   a stand-in mapping `install -y`/`clean all` to apt-get
#                  (execution-environment/base/dnf; the definition's package_manager_path)
#   /opt/ee        a venv first on PATH (Debian disables ensurepip for the system
#                  Python; the definition's python_interpreter.python_path)
# The tag is a hash of every input (the recipe version below, the stand-in,
# suite, packages, mirror): an existing image is reused, a changed input makes
# a new one. Bump RECIPE when the steps below change what the image holds.
set -euo pipefail

repo=${1:?usage: $0 IMAGE_REPO}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=trixie
packages=python3,python3-venv,python3-pip,ca-certificates
standin=$root/execution-environment/base/dnf
engine=${CONTAINER_ENGINE:-podman}
RECIPE=2

# The first http(s) Debian mirror in apt's sources (deb822 or one-line format).
mirror=$(
  { awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null
    awk '$1 == "deb" {print $2}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -E '^https?://.*/debian/?$' | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

hash=$(cat "$standin" <(echo "recipe $RECIPE: $suite $packages $mirror") | sha256sum | cut -c1-12)
image=$repo:$hash
if "$engine" image exists "$image" 2>/dev/null; then
  echo "ee-base: reusing $image" >&2
  echo "$image"
  exit 0
fi

# One build at a time (parallel make lanes); the second one reuses the first's image.
mkdir -p "$root/build"
exec 9>"$root/build/.ee-base.lock"
flock 9
if "$engine" image exists "$image"; then echo "$image"; exit 0; fi

work=$(mktemp -d /var/tmp/flinkops-ee-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "ee-base: debootstrap --variant=minbase $suite from $mirror" >&2
start=$SECONDS
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
chroot "$work/root" python3 -m venv /opt/ee
install -m 0755 "$standin" "$work/root/usr/bin/dnf"
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin
tar -C "$work/root" -c . | "$engine" import \
  --change 'ENV PATH=/opt/ee/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --message "flinkops EE base: debootstrap $suite ($packages) + dnf stand-in + /opt/ee venv" \
  --quiet - "$image" >/dev/null
echo "ee-base: built $image in $((SECONDS - start)) s" >&2
echo "$image"
