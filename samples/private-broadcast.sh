#!/usr/bin/env bash
# A private broadcast: only viewers holding the view key may join.
set -euo pipefail
MESHCAST=${MESHCAST:-build/release/apps/meshcast}
KEY=${KEY:-correct-horse-battery}
URL=ws://127.0.0.1:8700/ws
"$MESHCAST" tracker --listen 127.0.0.1:8700 --quiet &
trap 'kill $(jobs -p) 2>/dev/null' EXIT
sleep 0.5
"$MESHCAST" broadcast --tracker "$URL" --stream team --private --view-key "$KEY" --quiet &
sleep 2
echo "== without the key (refused, exit code 3):"
"$MESHCAST" watch --tracker "$URL" --stream team --out null --duration 3 --quiet || echo "exit $?"
echo "== with the key (plays and records team.webm):"
"$MESHCAST" watch --tracker "$URL" --stream team --view-key "$KEY" --out team.webm --duration 5
