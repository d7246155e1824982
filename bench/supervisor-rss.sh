#!/bin/bash
# The supervisor's peak memory (VmHWM) with 2 workers after 2,000 EC P-256
# issuances at concurrency 4 (issue 8's target: <= 45 MB), and each child's.
# usage: bench/supervisor-rss.sh dist/depot
BIN=$1
D=$(mktemp -d /tmp/h1-rss-XXXX)
$BIN init $D/ca "RSS CA" --key-type ec-p256 >/dev/null
PORT=$(( 40000 + RANDOM % 20000 ))
HOME=$D $BIN start $D/ca --port $PORT --pid-file $D/pid --log-file $D/log --process-count 2 >/dev/null 2>&1 &
SUP=$!
for i in $(seq 100); do grep -q "workers ready" $D/log 2>/dev/null && break; sleep 0.1; done
"$(dirname "$0")/../node_modules/.bin/bun" run "$(dirname "$0")/load.ts" --host 127.0.0.1 --port $PORT -n 2000 -c 4 --ca $D/ca/certificates/ca.crt --json 2>/dev/null | head -c 300; echo
grep VmHWM /proc/$SUP/status
for c in $(pgrep -P $SUP); do echo "child $c $(tr '\0' ' ' </proc/$c/cmdline | awk '{print $NF}') $(grep VmHWM /proc/$c/status)"; done
kill -TERM $SUP; wait $SUP
rm -rf $D
