#!/usr/bin/env bash
# A migration on a pool that throttles: RECORDS records (default 100,000) imported by
# `authing-otp import` into `authing-otp emulator --rate-limit LIMIT` (default 100 requests per
# second), two processes on loopback, in batches of 100 with 4 requests in flight:
#
#   1. asking for 3x the limit (--rps 3*LIMIT);
#   2. with no --rps at all;
#   3. as 1., with the emulator stopped (kill -STOP) for OUTAGE seconds (default 20) from the
#      3rd second on, then resumed (kill -CONT).
#
#   cli/scripts/throttle_bench.sh [RECORDS] [LIMIT] [OUTAGE]
#
# For each run: wall time, the rate of requests the emulator accepted as a share of its limit,
# the share of requests answered 429, and for the outage run the wall time it added beyond
# the outage itself. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"

records="${1:-100000}"
limit="${2:-100}"
outage="${3:-20}"

bench_setup
generate_records "$records" "$work/secrets.jsonl"
echo "generated $records records; emulator limited to $limit requests per second" >&2

unset AUTHING_HOST AUTHING_RPS AUTHING_MAX_ATTEMPTS AUTHING_ACCESS_KEY_ID AUTHING_ACCESS_KEY_SECRET

# run NAME OUTAGE [import flags…]: one import against a fresh emulator.
run() {
  local name="$1" pause="$2"
  shift 2
  start_emulator "$limit" "$work/secrets.jsonl"
  local outage_pid=""
  if [ "$pause" -gt 0 ]; then
    ( sleep 3; kill -STOP "$emulator_pid"; sleep "$pause"; kill -CONT "$emulator_pid" ) &
    outage_pid=$!
  fi
  "$bin" import "$work/secrets.jsonl" --batch-size 100 --concurrency 4 --json -q "$@" \
    >"$work/$name.json" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  [ -z "$outage_pid" ] || wait "$outage_pid"
  kill "$emulator_pid"
  wait "$emulator_pid" 2>/dev/null || true
  emulator_pid=""
  unset AUTHING_HOST AUTHING_ACCESS_KEY_ID AUTHING_ACCESS_KEY_SECRET
}

run ceiling 0 --rps "$((3 * limit))"
run adaptive 0
run outage "$outage" --rps "$((3 * limit))"

python3 - "$work" "$limit" "$outage" <<'PY'
import json, sys
work, limit, outage = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def load(name):
    s = json.load(open(f"{work}/{name}.json"))
    assert s["imported"] == s["records"], f"{name}: not every record was imported: {s}"
    return s
rows = [("--rps %d" % (3 * limit), load("ceiling")), ("no --rps", load("adaptive")),
        ("--rps %d, %d s outage" % (3 * limit, outage), load("outage"))]
print(f"{'run':<28} {'wall':>8} {'accepted/s':>11} {'of limit':>9} {'429s':>7} {'of requests':>12} {'unavailable':>12}")
for name, s in rows:
    i = s["import"]
    accepted = i["requests"] - i["throttled"] - i["unavailable"]
    rate = accepted / i["elapsedSeconds"]
    print(f"{name:<28} {i['elapsedSeconds']:>7.1f}s {rate:>11.1f} {100 * rate / limit:>8.1f}% "
          f"{i['throttled']:>7} {100 * i['throttled'] / i['requests']:>11.1f}% {i['unavailable']:>12}")
extra = rows[2][1]["import"]["elapsedSeconds"] - rows[0][1]["import"]["elapsedSeconds"] - outage
print(f"the {outage:.0f} s outage added {outage + extra:.1f} s of wall time: {extra:.1f} s beyond the outage itself")
PY
