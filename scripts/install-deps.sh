#!/usr/bin/env bash
# Installs every Debian package meshcast needs to build, test and run. Idempotent.
# The viewer's window needs gstreamer1.0-gl / gstreamer1.0-x (without them GStreamer's
# autovideosink falls back to a framebuffer sink, which crashes under X) and sound needs the
# PulseAudio / PipeWire / ALSA sinks; the window tests run under xvfb and read window names
# with x11-utils (xwininfo). The NAT lab (tests/netlab, docs/netlab.md) needs coturn, iptables
# and nftables next to iproute2. It starts its own turnserver inside a network namespace with
# a generated configuration and never uses the package's system service. Debian 12 enables
# that unit; where systemd runs it, it binds 3478 on the machine's own interfaces, which the
# lab does not see (its hosts only reach servers inside the lab's namespaces).
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config ninja-build clang clang-format libclang-rt-14-dev
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-tools
  gstreamer1.0-nice libnice-dev
  gstreamer1.0-x gstreamer1.0-gl gstreamer1.0-pulseaudio gstreamer1.0-pipewire gstreamer1.0-alsa
  libx11-dev xvfb x11-utils libsrtp2-dev libopus-dev libvpx-dev libssl-dev
  libsoup-3.0-dev libsqlite3-dev nlohmann-json3-dev libgtest-dev googletest iproute2 procps
  coturn iptables nftables redis-server libhiredis-dev
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  chromium python3-matplotlib glib-networking openssl
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "install-deps: all packages present"; exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
