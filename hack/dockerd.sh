#!/usr/bin/env bash
# Start dockerd in the background unless a Docker engine already answers (no systemd here).
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
log=/var/log/isobox-dockerd.log
echo "starting dockerd (log: $log)"
setsid dockerd >"$log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not answer within 60 s; last lines of $log:" >&2
tail -20 "$log" >&2
exit 1
