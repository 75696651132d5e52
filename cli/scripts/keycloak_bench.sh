#!/usr/bin/env bash
# Peak memory and time of the Keycloak export reader on a realm export of a million users
# (each with attributes, roles, a password credential and an OTP credential), written to a
# temporary file (about 1.4 GB; under $TMPDIR, else /tmp), read back, every secret checked,
# read again by `authing-otp import --format keycloak --dry-run` (the whole command), and
# deleted. See cli/examples/keycloak_memory.rs; Linux only (VmHWM of /proc/self/status).
#
#   cli/scripts/keycloak_bench.sh [USERS]   # or `huge`: a 200 MB user, then an ordinary one
#
# Not a test: the figures depend on the machine. The goal is a peak RSS under 64 MB that does
# not grow with the number of users.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release --quiet -p authing-otp-cli --example keycloak_memory --bin authing-otp
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
# After the reader alone, the whole command on the same file: `import --format keycloak
# --dry-run --json`, whose summary has its time and peak RSS.
KEYCLOAK_BENCH_COMMAND="$target_dir/release/authing-otp" \
  "$target_dir/release/examples/keycloak_memory" "$@"
