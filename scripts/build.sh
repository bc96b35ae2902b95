#!/usr/bin/env bash
# Configures and builds one tree. Usage: scripts/build.sh [release|asan|fuzz] [extra cmake args]
# fuzz: clang, only the libFuzzer targets (and the libraries they link), no GStreamer apps.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}; shift || true
target=()
lean_debug=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
case "$kind" in
  release) dir=build/release; opts=(-DCMAKE_BUILD_TYPE=Release) ;;
  # Sanitizer trees: -O1 as ASan advises and line tables only (-g1): full debug info of the
  # JSON-heavy tests doubled the compile time, and reports need only functions and lines.
  asan)    dir=build/asan;    opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${lean_debug[@]}" -DMESHCAST_SANITIZE=ON -DMESHCAST_UNIT_ONLY=ON) ;;
  fuzz)    dir=build/fuzz;    target=(--target fuzzers)
           opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${lean_debug[@]}" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
                 -DMESHCAST_FUZZ=ON -DMESHCAST_TESTS=OFF -DMESHCAST_UNIT_ONLY=ON) ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
# Re-running configure is cheap and picks up changed options.
if [ -f "$dir/CMakeCache.txt" ]; then gen=(); fi
cmake -S . -B "$dir" "${gen[@]}" "${opts[@]}" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${target[@]}"
