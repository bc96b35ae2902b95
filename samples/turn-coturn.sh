#!/usr/bin/env bash
# A call whose media is relayed by a TURN server (Debian's coturn) on loopback.
# Needs: apt-get install coturn. Everything stays on 127.0.0.1.
set -euo pipefail
MESHCAST=${MESHCAST:-build/release/apps/meshcast}
command -v turnserver >/dev/null || { echo "install coturn first: apt-get install coturn" >&2; exit 2; }
turnserver --listening-ip 127.0.0.1 --listening-port 3478 --relay-ip 127.0.0.1 \
  --min-port 49160 --max-port 49200 --lt-cred-mech --user meshcast:s3cret --realm meshcast \
  --no-tls --no-dtls --no-cli --fingerprint --allow-loopback-peers --verbose \
  --log-file "$PWD/turn.log" --simple-log &
"$MESHCAST" tracker --listen 127.0.0.1:8700 --quiet &
trap 'kill $(jobs -p) 2>/dev/null' EXIT
sleep 1
TURN=meshcast:s3cret@127.0.0.1:3478
"$MESHCAST" call --tracker ws://127.0.0.1:8700/ws --id bob --answer --turn "$TURN" \
  --audio-source test:880 --audio-sink null --quiet &
sleep 0.5
"$MESHCAST" call --tracker ws://127.0.0.1:8700/ws --id alice --to bob --turn "$TURN" \
  --audio-source test:440 --audio-sink null --duration 5
# Seen here (2026-11-22): both sides allocate relay candidates on coturn (libnice keeps TURN
# refreshes alive until the call ends); on one machine the host pair still wins, between
# NATed machines the relay pair carries the media.
