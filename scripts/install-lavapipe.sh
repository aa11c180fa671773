#!/usr/bin/env bash
# Installs a Vulkan driver that runs on the CPU (Mesa lavapipe) so that WebGPU (npm webgpu,
# Dawn) works on a machine without a GPU: Debian bookworm's backports carry Mesa 25, which Dawn
# accepts (the stock Mesa 22 is rejected). Idempotent; needs root (or sudo) and apt.
set -euo pipefail
if [ -e /usr/share/vulkan/icd.d/lvp_icd.json ] && dpkg -s mesa-vulkan-drivers 2>/dev/null | grep -q '^Version: 25'; then
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
$SUDO apt-get update -q
$SUDO apt-get install -y -q libvulkan1
$SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers
