#!/usr/bin/env bash
# The official SDKs side by side with authing-otp (see benches/peers/README.md):
#
#   benches/peers/run.sh
#
# 1. Installs, into a temporary directory, authing-node-sdk 4.0.1 from the npm registry and
#    authing 5.1.0 and genauth 5.1.0 from PyPI (one venv each). A registry that cannot be
#    reached, or an install that fails, is reported and its rows are skipped.
# 2. Builds the Rust side in release: the stub, the Rust client, the launcher that measures a
#    client process (examples/peers_*.rs) and the authing-otp command.
# 3. Calls: getOtpSecretByUser for a user by email, against the stub in another process, at
#    concurrency 1 and 32, each client pinned to core 0 and the stub to core 1 (when there are
#    two cores); RUNS interleaved rounds, median and range.
# 4. Bulk: BULK_RECORDS records (100,000) imported into `authing-otp emulator --rate-limit 300`
#    by `authing-otp import` and by a plain importOtp loop over the Node SDK.
#
# Settings (environment): RUNS (5), RUST_CALLS (20000), NODE_CALLS (5000), PYTHON_CALLS (3000),
# CONCURRENCY (1,32), MAX_OTHER_LOAD (0.25) and RETRIES (3) (a measurement during which other
# processes used more than that share of the client's or the server's core is done again, up to
# RETRIES times; calls and bulk alike), BULK_RECORDS (100000), BULK_RUNS (3), NODE_BULK_CONCURRENCY (1,4),
# SKIP_CALLS=1, SKIP_BULK=1, KEEP=1 (keep the temporary directory: installs, logs, every
# measurement as JSON Lines in measurements.jsonl).
#
# Needs cargo, python3 (with venv), node and npm.
# Everything it starts listens on 127.0.0.1 and stops by itself; nothing goes elsewhere but the
# package installs. Not part of .ci/run: it needs the registries and about 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
here="benches/peers"

runs="${RUNS:-5}"
bulk_runs="${BULK_RUNS:-3}"

work="$(mktemp -d -t authing-otp-peers.XXXXXX)"
cleanup() {
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }

# --- the machine ------------------------------------------------------------------------------
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sort -u | paste -sd '; ')), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "load average before: $(cut -d ' ' -f 1-3 /proc/loadavg)"
if [ "$(nproc)" -lt 2 ]; then
  echo "fewer than 2 cores: clients and the stub are not pinned and share the machine"
fi

# --- the Rust side ----------------------------------------------------------------------------
say "building the Rust side (release)…"
cargo build --release --quiet --example peers_stub --example peers_client --example peers_measure
cargo build --release --quiet -p authing-otp-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
examples="$target_dir/release/examples"
cli="$target_dir/release/authing-otp"
echo "rust: $(rustc --version)"

# --- the official SDKs ------------------------------------------------------------------------
node_args=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  node_args=(--node-skip "node or npm is not installed")
  echo "node: not installed, Node rows skipped"
else
  mkdir -p "$work/node"
  echo '{"name":"peers","private":true}' >"$work/node/package.json"
  say "npm install authing-node-sdk@4.0.1…"
  if (cd "$work/node" && timeout 600 npm install --no-audit --no-fund --loglevel=error \
        authing-node-sdk@4.0.1) >"$work/npm.log" 2>&1; then
    node_args=(--node-modules "$work/node/node_modules")
    echo "node: $(node --version), authing-node-sdk $(cd "$work/node" && node -p 'require("authing-node-sdk/package.json").version'), axios $(cd "$work/node" && node -p 'require("axios/package.json").version')"
  else
    reason="npm install authing-node-sdk@4.0.1 failed (is the npm registry reachable?): $(tail -n 2 "$work/npm.log" | tr '\n' ' ')"
    node_args=(--node-skip "$reason")
    echo "node: $reason"
  fi
fi

# The Python SDKs import `websockets` at import time without declaring it (their metadata lists
# requests and pyjwt only): a user has to install it too. 13.1 is the last release whose
# `websockets.connect` still takes the `extra_headers` the SDKs' event subscription passes.
python_args=()
for sdk in authing genauth; do
  venv="$work/venv-$sdk"
  say "pip install $sdk==5.1.0…"
  if python3 -m venv "$venv" >"$work/pip-$sdk.log" 2>&1 &&
     timeout 600 "$venv/bin/pip" install --disable-pip-version-check --quiet \
       "$sdk==5.1.0" "websockets==13.1" >>"$work/pip-$sdk.log" 2>&1; then
    python_args+=("--python-$sdk" "$venv/bin/python")
    echo "python ($sdk): $("$venv/bin/python" --version 2>&1), $("$venv/bin/pip" freeze --disable-pip-version-check | paste -sd ' ')"
  else
    reason="pip install $sdk==5.1.0 failed (is PyPI reachable?): $(tail -n 2 "$work/pip-$sdk.log" | tr '\n' ' ')"
    python_args+=("--python-$sdk-skip" "$reason")
    echo "python ($sdk): $reason"
  fi
done

# --- measurements -----------------------------------------------------------------------------
common=(--measure "$examples/peers_measure" --work "$work" --log "$work/measurements.jsonl")
if [ -z "${SKIP_CALLS:-}" ]; then
  say "calls: $runs rounds…"
  python3 "$here/bench.py" calls "${common[@]}" "${node_args[@]}" "${python_args[@]}" \
    --stub "$examples/peers_stub" --rust-client "$examples/peers_client" --runs "$runs" \
    --concurrency "${CONCURRENCY:-1,32}" --rust-calls "${RUST_CALLS:-20000}" \
    --node-calls "${NODE_CALLS:-5000}" --python-calls "${PYTHON_CALLS:-3000}" \
    --max-other-load "${MAX_OTHER_LOAD:-0.25}" --retries "${RETRIES:-3}"
fi
if [ -z "${SKIP_BULK:-}" ]; then
  say "bulk: $bulk_runs rounds…"
  python3 "$here/bench.py" bulk "${common[@]}" "${node_args[@]}" --cli "$cli" \
    --records "${BULK_RECORDS:-100000}" --runs "$bulk_runs" \
    --node-concurrency "${NODE_BULK_CONCURRENCY:-1,4}" \
    --max-other-load "${MAX_OTHER_LOAD:-0.25}" --retries "${RETRIES:-3}"
fi
echo
echo "load average after: $(cut -d ' ' -f 1-3 /proc/loadavg)"
