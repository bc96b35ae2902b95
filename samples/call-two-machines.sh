#!/usr/bin/env bash
# A call between two machines. Run the tracker and bob on machine B, alice on machine A.
#   machine B:  ROLE=bob   TRACKER_IP=192.0.2.20 MY_IP=192.0.2.20 samples/call-two-machines.sh
#   machine A:  ROLE=alice TRACKER_IP=192.0.2.20 MY_IP=192.0.2.10 samples/call-two-machines.sh
# With the defaults both run on this machine over loopback.
set -euo pipefail
MESHCAST=${MESHCAST:-build/release/apps/meshcast}
TRACKER_IP=${TRACKER_IP:-127.0.0.1}
MY_IP=${MY_IP:-127.0.0.1}
ROLE=${ROLE:-both}
URL=ws://$TRACKER_IP:8700/ws
case "$ROLE" in
  bob)
    "$MESHCAST" tracker --listen "$TRACKER_IP:8700" --quiet &
    trap 'kill $!' EXIT
    sleep 0.5
    # Accepts only alice; speaks through the microphone, listens on the speakers.
    "$MESHCAST" call --tracker "$URL" --id bob --answer --accept-from alice --local-address "$MY_IP"
    ;;
  alice)
    "$MESHCAST" call --tracker "$URL" --id alice --to bob --local-address "$MY_IP"
    ;;
  both)
    "$MESHCAST" tracker --listen 127.0.0.1:8700 --quiet &
    trap 'kill $(jobs -p) 2>/dev/null' EXIT
    sleep 0.5
    "$MESHCAST" call --tracker "$URL" --id bob --answer --accept-from alice \
      --audio-source test:880 --audio-sink file:bob-heard.wav --quiet &
    sleep 0.5
    "$MESHCAST" call --tracker "$URL" --id alice --to bob --duration 5 \
      --audio-source test:440 --audio-sink file:alice-heard.wav
    wait %2 || true
    echo "alice heard bob in alice-heard.wav (880 Hz); bob heard alice in bob-heard.wav (440 Hz)"
    ;;
esac
