#!/usr/bin/env bash
# Builds the libFuzzer targets (build/fuzz, clang), replays every seed and saved crash input,
# then fuzzes each target for N seconds from a temporary copy of its seeds (the repository is
# not modified). Fails on any crash, leak, timeout or out-of-memory and says where the input
# that caused it was saved. Usage: scripts/fuzz.sh [seconds per target, default 50] [name regex]
# FUZZ_JOBS (default 2) targets run at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-50}
only=${2:-.}
jobs=${FUZZ_JOBS:-2}
build=build/fuzz

bash scripts/build.sh fuzz
manifest=$build/fuzz_targets.tsv
echo "== fuzz: replay of seeds and regressions (ctest -L unit in $build) =="
ctest --test-dir "$build" -L unit --output-on-failure -j "$jobs" --no-tests=error

artifacts=$PWD/$build/fuzz-artifacts
logs=$PWD/$build/fuzz-logs
mkdir -p "$artifacts" "$logs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One target: fuzz from a copy of its seeds + regressions; the exit code goes to a file.
run_one() {
  local name=$1 bin=$2 corpus=$3 regressions=$4 dict=$5
  local dir=$work/$name
  mkdir -p "$dir/corpus"
  cp "$corpus"/* "$dir/corpus/"
  if [ -d "$regressions" ]; then cp "$regressions"/* "$dir/corpus/"; fi
  local args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$artifacts/$name-")
  if [ "$dict" != "-" ]; then args+=(-dict="$dict"); fi
  local rc=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" "${args[@]}" "$dir/corpus" >"$logs/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$dir/rc"
}

names=()
echo "== fuzz: every target for ${secs}s, $jobs at a time (logs in $logs) =="
while IFS=$'\t' read -r name bin corpus regressions dict; do
  [[ $name =~ $only ]] || continue
  names+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzzing $name"
  run_one "$name" "$bin" "$corpus" "$regressions" "$dict" </dev/null &
done <"$manifest"
wait
if [ ${#names[@]} -eq 0 ]; then echo "no fuzz target matches '$only'" >&2; exit 2; fi

failed=0
printf '\n%-34s %10s %6s %7s %6s  %s\n' target runs cov ft corpus result
for name in "${names[@]}"; do
  log=$logs/$name.log
  rc=$(cat "$work/$name/rc")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ "$rc" != 0 ]; then
    failed=1
    if grep -q 'ERROR: libFuzzer: timeout' "$log"; then result=TIMEOUT
    elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then result=OOM
    elif grep -q 'ERROR: LeakSanitizer' "$log"; then result=LEAK
    else result="CRASH (exit $rc)"; fi
  fi
  printf '%-34s %10s %6s %7s %6s  %s\n' "$name" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
    "$result"
done

if [ "$failed" != 0 ]; then
  for name in "${names[@]}"; do
    [ "$(cat "$work/$name/rc")" != 0 ] || continue
    log=$logs/$name.log
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    area=$(awk -F'\t' -v n="$name" '$1 == n { print $4 }' "$manifest")
    echo
    echo "== $name failed; the last lines of $log: =="
    tail -n 40 "$log"
    echo "input saved to: ${input:-(none written, see the log)}"
    echo "reproduce:      $(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$manifest") ${input}"
    echo "keep it:        mkdir -p $area && cp ${input} $area/"
  done
  exit 1
fi
