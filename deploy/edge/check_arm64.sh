#!/usr/bin/env bash
# Runs the exported MNIST CNN (onnxruntime) and neurarust itself on an emulated aarch64 CPU and
# compares their logits with this machine's (deploy/edge/arm64_check.py does the work).
#
# Usage, from the repository root with the project's venv active, as root on Debian/Ubuntu:
#   bash deploy/edge/check_arm64.sh [WORK_DIR]          (default /tmp/neurarust-arm64)
#
# It installs qemu-user-static and debootstrap with apt, unpacks a minimal Debian bookworm arm64
# with Python 3.11 into WORK_DIR/rootfs (about 230 MB) and aarch64 wheels into WORK_DIR/site
# (about 200 MB): numpy, onnxruntime and typing-extensions at the versions installed here, and
# the newest z3-solver whose wheel fits bookworm's glibc 2.36 (what `pip install
# --prefer-binary` picks on a Raspberry Pi OS bookworm; newer ones need glibc 2.38). No binfmt
# registration or chroot is needed: qemu's -L runs the guest's Python directly. Takes about
# 3 minutes; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-/tmp/neurarust-arm64}"
rootfs="$work/rootfs" site="$work/site" out="$work/out"
mkdir -p "$work"

command -v qemu-aarch64-static >/dev/null && command -v debootstrap >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap >/dev/null

if [ ! -x "$rootfs/usr/bin/python3.11" ]; then
  debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=python3.11-minimal,libpython3.11-stdlib bookworm "$rootfs" \
    http://deb.debian.org/debian >"$work/debootstrap.log"
  # The first stage unpacks only the required packages; unpack Python too (nothing to configure).
  for deb in "$rootfs"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
fi
# qemu-user shows the guest this machine's x86 /proc/cpuinfo, on which onnxruntime's CPU
# detection crashes; qemu's -L looks in the rootfs first, so give it a Cortex-A72's (a
# Raspberry Pi 4's CPU, as the -cpu below).
mkdir -p "$rootfs/proc"
printf '%s\n' 'processor	: 0' 'Features	: fp asimd evtstrm crc32 cpuid' \
  'CPU implementer	: 0x41' 'CPU architecture: 8' 'CPU variant	: 0x0' 'CPU part	: 0xd08' \
  'CPU revision	: 3' '' >"$rootfs/proc/cpuinfo"

if [ ! -d "$site/onnxruntime" ]; then
  pins=$(python -c "import importlib.metadata as m
print(' '.join(f'{p}=={m.version(p)}' for p in ('numpy', 'onnxruntime', 'typing-extensions')))")
  # shellcheck disable=SC2086  # $pins is a list of requirements
  python -m pip install -q --target "$site" --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 \
    --platform manylinux_2_31_aarch64 --platform manylinux_2_34_aarch64 \
    --platform manylinux_2_35_aarch64 --platform manylinux_2_36_aarch64 $pins z3-solver
fi

python deploy/edge/arm64_check.py prepare "$out"
qemu-aarch64-static -cpu cortex-a72 -L "$rootfs" -E PYTHONPATH="$site" \
  "$rootfs/usr/bin/python3.11" deploy/edge/arm64_check.py guest "$out"
python deploy/edge/arm64_check.py compare "$out"
