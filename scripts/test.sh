#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test. Unit tests run under
# AddressSanitizer + UBSan with leak detection; then every libFuzzer target (clang) replays its
# seeds and saved crash inputs and fuzzes for FUZZ_SECONDS (default 30) each; integration tests
# run on the release build (real GStreamer/libnice/network timing under ASan would only
# measure ASan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh asan
bash scripts/build.sh release
# LeakSanitizer stops the process's threads with ptrace at exit: it needs ptrace rights (root
# has them; a container without CAP_SYS_PTRACE makes it fail with "LeakSanitizer has
# encountered a fatal error").
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export G_DEBUG=fatal-criticals GST_DEBUG_NO_COLOR=1
jobs=$(nproc)
echo "== unit tests (asan+ubsan, leak detection on) =="
ctest --test-dir build/asan -L unit --output-on-failure -j "$jobs" --no-tests=error
echo "== fuzz stage (clang libFuzzer, build/fuzz): replay, then ${FUZZ_SECONDS:-30}s per target =="
bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
echo "== integration tests (release) =="
ctest --test-dir build/release -L integration --output-on-failure -j 1 --no-tests=ignore
# The NAT lab needs root and network namespaces (ip netns, veth, iptables in a namespace).
# It never touches the machine's own interfaces; see docs/netlab.md.
echo "== netlab tests (release, network namespaces) =="
netlab_skip=""
if [ "$(id -u)" -ne 0 ]; then
  netlab_skip="not root"
else
  probe="mcnlprobe$$"
  if ip netns add "$probe" 2>/dev/null; then
    ip netns exec "$probe" iptables -t nat -L >/dev/null 2>&1 || netlab_skip="iptables does not work in a network namespace"
    ip netns del "$probe" 2>/dev/null || true
  else
    netlab_skip="cannot create a network namespace (ip netns add failed)"
  fi
  command -v turnserver >/dev/null || netlab_skip="${netlab_skip:-coturn (turnserver) is not installed}"
fi
if [ -n "$netlab_skip" ]; then
  echo "SKIPPING the netlab tests: $netlab_skip"
else
  ctest --test-dir build/release -L netlab --output-on-failure -j 1 --no-tests=error
fi
