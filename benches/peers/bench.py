"""Runs the side-by-side benchmark's measurements and prints their tables (see README.md here).
benches/peers/run.sh installs the SDKs, builds the Rust side and calls this; it can also be run
by hand:

    python3 bench.py calls --stub BIN --rust-client BIN [--node-modules DIR] \
        [--python-authing PY] [--python-genauth PY] [--runs 5] ...
    python3 bench.py bulk --cli BIN [--node-modules DIR] [--records 100000] [--runs 3] ...

`calls`: for each client and each concurrency, a fresh stub (examples/peers_stub.rs) pinned to
core 1 and the client pinned to core 0 (when there are two cores), N calls of
getOtpSecretByUser. The client's CPU time and peak RSS come from wait4 on its process (its
whole life: start-up, imports and the calls), done by the small launcher
examples/peers_measure.rs rather than from here (Linux keeps a process's peak RSS across exec:
started from this script, every client would weigh at least this Python process); calls/s from
the client's own clock around its calls; token requests and TCP connections from the stub's
counters. Rounds are interleaved
(every client once, then again), and each cell shows the median of the rounds and their range.

`bulk`: for each importer, a fresh `authing-otp emulator --rate-limit 300 --seed-users-from
FILE` (pinned to core 1) and the importer pinned to core 0; wall time of the importer's
process, what the emulator then holds (`GET /__emulator/bindings`), what the importer saw.

Nothing leaves 127.0.0.1; every process is bounded in time and stopped by this script.
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PIN = (os.cpu_count() or 1) >= 2
CLIENT_TIMEOUT = 600  # seconds, per client process


def cpu_jiffies():
    """Busy jiffies per CPU line of /proc/stat ('cpu', 'cpu0', 'cpu1', ...)."""
    busy = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *values = line.split()
            v = [int(x) for x in values]
            # user nice system idle iowait irq softirq steal
            busy[name] = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy


def rusage_cpu(usage):
    return usage.ru_utime + usage.ru_stime


class Usage:
    """What examples/peers_measure.rs reports about the program it ran."""

    def __init__(self, report):
        self.cpu = report["userSeconds"] + report["systemSeconds"]
        self.max_rss_kib = report["maxRssKiB"]
        self.launcher_rss_kib = report.get("launcherRssKiB")


def run_measured(args, argv, env=None, stderr_path=None):
    """Runs argv to its end through the launcher, pinned to core 0 when there are two cores.
    Returns (exit code, stdout text, Usage, wall seconds)."""
    rusage = os.path.join(args.work, "rusage.json")
    if os.path.exists(rusage):
        os.unlink(rusage)
    launcher = [args.measure, "--timeout", str(CLIENT_TIMEOUT), "--rusage-to", rusage]
    if PIN:
        launcher += ["--cpu", "0"]
    err = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
    started = time.perf_counter()
    try:
        done = subprocess.run(launcher + ["--"] + argv, stdout=subprocess.PIPE, stderr=err, env=env,
                              text=True, timeout=CLIENT_TIMEOUT + 60)
    finally:
        if stderr_path:
            err.close()
    wall = time.perf_counter() - started
    with open(rusage) as f:
        usage = Usage(json.loads(f.read()))
    return done.returncode, done.stdout, usage, wall


class Server:
    """A server process (the stub or the emulator) pinned to core 1, its URL read from its
    standard output, stopped with SIGTERM and reaped with its rusage."""

    def __init__(self, argv, env=None, ready=r"^listening on (\S+)"):
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
            # Pinned before exec, so that every thread it starts is pinned too.
            preexec_fn=(lambda: os.sched_setaffinity(0, {1})) if PIN else None,
        )
        self.lines = []
        self.url = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{argv[0]} stopped before it was ready")
            self.lines.append(line.rstrip("\n"))
            m = re.match(ready, line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.process.kill()
            raise RuntimeError(f"{argv[0]} did not say where it listens")

    def stop(self):
        """SIGTERM; returns (remaining output lines, CPU seconds of the server)."""
        self.process.send_signal(signal.SIGTERM)
        rest = self.process.stdout.read()
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return rest.splitlines(), rusage_cpu(usage)


def other_load(before, after, client_cpu, server_cpu, wall):
    """Cores' worth of CPU time other processes used between two cpu_jiffies(): on the client's
    core and on the server's (both on all cores when nothing is pinned). The server ran all
    along, so its whole CPU time counts against its core."""
    delta = {k: (after[k] - before[k]) / CLK_TCK for k in after}
    if PIN:
        return (max(0.0, delta.get("cpu0", 0) - client_cpu) / wall,
                max(0.0, delta.get("cpu1", 0) - server_cpu) / wall)
    both = max(0.0, delta["cpu"] - client_cpu - server_cpu) / wall
    return both, both


# --- formatting -------------------------------------------------------------------------------


def median_range(values, fmt):
    values = sorted(values)
    mid = statistics.median(values)
    if len(values) == 1 or fmt(values[0]) == fmt(values[-1]):
        return fmt(mid)
    return f"{fmt(mid)} ({fmt(values[0])}–{fmt(values[-1])})"


def fmt_time(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms" if seconds < 1e-2 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_mb(kib):
    return f"{kib / 1024:.1f} MB" if kib < 100 * 1024 else f"{kib / 1024:.0f} MB"


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_seconds(x):
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def fmt_share(x):
    return f"{x:.2f}"


# --- calls ------------------------------------------------------------------------------------


def calls_rows(args):
    rows, skipped = [], []
    rust = [args.rust_client]

    def rust_row(label, extra):
        return (label, args.rust_calls, lambda url, c, n: rust + extra + ["--calls", str(n), "--concurrency", str(c), "--host", url], None)

    rows.append(rust_row("plain reqwest (token once)", ["--mode", "reqwest"]))
    rows.append(rust_row("authing-otp (token)", ["--mode", "authing-otp"]))
    rows.append(rust_row("authing-otp (signature)", ["--mode", "authing-otp", "--auth", "signature"]))
    if args.node_modules:
        env = dict(os.environ, NODE_PATH=args.node_modules)
        node = [args.node, os.path.join(args.here, "node_client.js")]
        rows.append(("authing-node-sdk 4.0.1 (signature)", args.node_calls,
                     lambda url, c, n: node + ["--calls", str(n), "--concurrency", str(c), "--host", url], env))
    else:
        skipped.append("authing-node-sdk 4.0.1: " + (args.node_skip or "not installed"))
    for sdk, python, reason, label in [
        ("authing", args.python_authing, args.python_authing_skip, "authing 5.1.0, Python (token)"),
        ("genauth", args.python_genauth, args.python_genauth_skip, "genauth 5.1.0, Python (token, x-genauth-*)"),
    ]:
        if python:
            script = os.path.join(args.here, "python_client.py")
            rows.append((label, args.python_calls,
                         (lambda py, s: lambda url, c, n: [py, script, "--sdk", s, "--calls", str(n), "--concurrency", str(c), "--host", url])(python, sdk),
                         None))
        else:
            skipped.append(f"{sdk} 5.1.0 (Python): " + (reason or "not installed"))
    return rows, skipped


def measure_call(args, label, calls, argv_for, env, concurrency, stub_argv, log):
    stub = Server(stub_argv)
    try:
        before = cpu_jiffies()
        code, out, usage, wall = run_measured(args, argv_for(stub.url, concurrency, calls), env=env)
        after = cpu_jiffies()
    finally:
        rest, stub_cpu = stub.stop()
    counts = next((json.loads(l) for l in rest if l.startswith("{")), None)
    report = None
    for line in out.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
    if code != 0 or report is None or counts is None:
        raise RuntimeError(f"{label} at concurrency {concurrency}: exit {code}, output {out[-500:]!r}")
    client_cpu = usage.cpu
    other_client_core, other_stub_core = other_load(before, after, client_cpu, stub_cpu, wall)
    result = {
        "client": label,
        "concurrency": concurrency,
        "calls": calls,
        "errors": report["errors"],
        "firstError": report.get("firstError"),
        "cpuPerCall": client_cpu / calls,
        "loopCpuPerCall": report["loopCpuSeconds"] / calls,
        "startupCpu": max(0.0, client_cpu - report["loopCpuSeconds"]),
        "callsPerSecond": report["callsPerSecond"],
        "peakRssKiB": usage.max_rss_kib,
        "launcherRssKiB": usage.launcher_rss_kib,
        "tokenRequests": counts["tokenRequests"],
        "connections": counts["connections"],
        "otpRequests": counts["otpRequests"],
        "stubCpuPerCall": stub_cpu / calls,
        "otherLoadClientCore": other_client_core,
        "otherLoadStubCore": other_stub_core,
        "wallSeconds": wall,
    }
    return result


def cmd_calls(args):
    rows, skipped = calls_rows(args)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    stub_argv = [args.stub]
    results = []
    with open(args.log, "a") as log:
        for round_ in range(1, args.runs + 1):
            for concurrency in concurrencies:
                for label, calls, argv_for, env in rows:
                    # On a shared machine: a measurement during which other processes used
                    # more than --max-other-load of the client's or the stub's core is done
                    # again, up to --retries times; the last one is kept, flagged.
                    for attempt in range(args.retries + 1):
                        r = measure_call(args, label, calls, argv_for, env, concurrency, stub_argv, log)
                        r["attempts"] = attempt + 1
                        r["noisy"] = max(r["otherLoadClientCore"], r["otherLoadStubCore"]) > args.max_other_load
                        r["maxOtherLoad"] = args.max_other_load
                        r["kept"] = not r["noisy"] or attempt == args.retries
                        log.write(json.dumps(r) + "\n")
                        log.flush()
                        if r["kept"]:
                            break
                        print(f"  (other processes used {r['otherLoadClientCore']:.2f} / {r['otherLoadStubCore']:.2f} "
                              f"of the client's / stub's core: {'again' if attempt < args.retries else 'kept'})",
                              file=sys.stderr, flush=True)
                    results.append(r)
                    print(f"round {round_}/{args.runs} c={concurrency:<3} {label:<45} "
                          f"{fmt_time(r['cpuPerCall']):>9}/call {fmt_rate(r['callsPerSecond']):>7} calls/s "
                          f"{fmt_mb(r['peakRssKiB']):>7}  tokens {r['tokenRequests']:<3} conns {r['connections']:<5} "
                          f"errors {r['errors']}  other load {r['otherLoadClientCore']:.2f}/{r['otherLoadStubCore']:.2f}",
                          file=sys.stderr, flush=True)
    print_calls_tables(results, skipped)


def in_order(values):
    return list(dict.fromkeys(values))


def print_calls_tables(results, skipped=()):
    """The tables of the kept measurements, clients and concurrencies in the order measured."""
    print()
    for concurrency in in_order(r["concurrency"] for r in results):
        at = [r for r in results if r["concurrency"] == concurrency]
        rounds = max(sum(r["client"] == label for r in at) for label in in_order(r["client"] for r in at))
        print(f"getOtpSecretByUser at concurrency {concurrency}: median of {rounds} runs (range)")
        print()
        print("| client | calls | CPU per call | of which start-up | calls/s | peak RSS | token requests "
              "| TCP connections | stub CPU per call |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label in in_order(r["client"] for r in at):
            rs = [r for r in at if r["client"] == label]
            errors = sum(r["errors"] for r in rs)
            note = f" **{errors} errors**: {rs[0]['firstError']}" if errors else ""
            print(
                f"| {label}{note} | {rs[0]['calls']:,} "
                f"| {median_range([r['cpuPerCall'] for r in rs], fmt_time)} "
                f"| {median_range([r['startupCpu'] for r in rs], fmt_time)} "
                f"| {median_range([r['callsPerSecond'] for r in rs], fmt_rate)} "
                f"| {median_range([r['peakRssKiB'] for r in rs], fmt_mb)} "
                f"| {median_range([r['tokenRequests'] for r in rs], fmt_int)} "
                f"| {median_range([r['connections'] for r in rs], fmt_int)} "
                f"| {median_range([r['stubCpuPerCall'] for r in rs], fmt_time)} |"
            )
        print()
    oc = [r["otherLoadClientCore"] for r in results]
    os_ = [r["otherLoadStubCore"] for r in results]
    where = "client's core / stub's core" if PIN else "both cores"
    noisy = sum(r.get("noisy", False) for r in results)
    redone = sum(r.get("attempts", 1) - 1 for r in results)
    threshold = results[0].get("maxOtherLoad")
    if threshold is not None:
        print(f"{len(results)} measurements kept; {redone} done again because other processes used more than "
              f"{threshold:.2f} of the client's or the stub's core meanwhile; {noisy} kept above that.")
    print(f"Other processes' load while measuring ({where}), cores busy: median "
          f"{statistics.median(oc):.2f} / {statistics.median(os_):.2f}, max {max(oc):.2f} / {max(os_):.2f}. "
          f"Peak RSS floor (the launcher's own): {fmt_mb(max(r.get('launcherRssKiB') or 0 for r in results))}.")
    if not PIN:
        print("Fewer than 2 cores: client and stub were not pinned and share the machine.")
    for s in skipped:
        print(f"SKIPPED {s}")


# --- bulk -------------------------------------------------------------------------------------

SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def write_records(path, n):
    """The same records as cli/scripts/bulk_bench.sh: user-<i>, each its own secret."""
    with open(path, "w") as f:
        for i in range(n):
            x, s = i, []
            for k in range(16):
                s.append(SECRET_ALPHABET[x % 32])
                x = x // 32 + k + 7
            f.write('{"userId":"user-%d","secret":"%s"}\n' % (i, "".join(s)))


def bound_records(url, path):
    """(bindings the emulator holds, of them with the file's secret)."""
    expected = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            expected[r["userId"]] = r["secret"]
    total = right = 0
    with urllib.request.urlopen(url + "/__emulator/bindings", timeout=120) as answer:
        for line in answer:
            if line.strip():
                b = json.loads(line)
                total += 1
                right += expected.get(b["userId"]) == b["secret"]
    return total, right


def measure_bulk(args, label, kind, argv, env, base_env, records_path):
    """One import into a fresh emulator."""
    emulator = Server([args.cli, "emulator", "--rate-limit", str(args.rate_limit),
                       "--seed-users-from", records_path], env=base_env, ready=r"^export (.*)")
    try:
        exports = dict(kv.split("=", 1) for kv in emulator.lines[-1][len("export "):].split())
        run_env = dict(env, **exports)
        stderr_path = os.path.join(args.work, f"bulk-{kind}.err")
        before = cpu_jiffies()
        code, out, usage, wall = run_measured(args, argv, env=run_env, stderr_path=stderr_path)
        after = cpu_jiffies()
        bound, right = bound_records(exports["AUTHING_HOST"], records_path)
    finally:
        _, emulator_cpu = emulator.stop()
    summary = None
    for line in out.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    if summary is None:
        raise RuntimeError(f"{label}: exit {code}, no summary; see {stderr_path}")
    if kind == "authing-otp":
        throttled, lost = summary["throttled"], 0
        requests = summary["requests"]
    else:
        throttled = summary["failedHttp429"]
        lost = (summary["failedHttp429"] + summary["failedHttpOther"]
                + summary["failedStatusCode"] + summary["failedNoAnswer"])
        requests = summary["batches"]
    # The emulator's CPU time includes seeding the users before the import: an upper bound of
    # its share during the import, so the other load is if anything underestimated.
    other_client, other_server = other_load(before, after, usage.cpu, emulator_cpu, wall)
    return {
        "importer": label, "records": args.records, "rateLimit": args.rate_limit, "exit": code,
        "wallSeconds": wall, "bound": bound, "boundWithFileSecret": right, "boundPerSecond": right / wall,
        "requests": requests, "answered429": throttled, "batchesLost": lost,
        "cpuSeconds": usage.cpu, "peakRssKiB": usage.max_rss_kib, "summary": summary,
        "otherLoadClientCore": other_client, "otherLoadServerCore": other_server,
    }


def cmd_bulk(args):
    work = args.work
    records_path = os.path.join(work, "bulk.jsonl")
    write_records(records_path, args.records)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHING_", "GENAUTH_"))}
    importers = [("authing-otp import (defaults: 4 in flight, no --rps)", "authing-otp",
                  [args.cli, "import", records_path, "--json", "-q"], base_env)]
    skipped = []
    if args.node_modules:
        node_env = dict(base_env, NODE_PATH=args.node_modules)
        for c in [int(c) for c in args.node_concurrency.split(",")]:
            how = "one batch after the other" if c == 1 else f"{c} batches in flight"
            importers.append((f"authing-node-sdk 4.0.1 importOtp loop ({how})", "node",
                              [args.node, os.path.join(args.here, "node_bulk.js"), records_path, "--concurrency", str(c)],
                              node_env))
    else:
        skipped.append("authing-node-sdk 4.0.1 bulk: " + (args.node_skip or "not installed"))
    results = []
    with open(args.log, "a") as log:
        for round_ in range(1, args.runs + 1):
            for label, kind, argv, env in importers:
                # Redone when other processes used more than --max-other-load of the
                # importer's or the emulator's core: a slowed emulator answers fewer 429s.
                for attempt in range(args.retries + 1):
                    r = measure_bulk(args, label, kind, argv, env, base_env, records_path)
                    r["attempts"] = attempt + 1
                    r["noisy"] = max(r["otherLoadClientCore"], r["otherLoadServerCore"]) > args.max_other_load
                    r["maxOtherLoad"] = args.max_other_load
                    r["kept"] = not r["noisy"] or attempt == args.retries
                    log.write(json.dumps(r) + "\n")
                    log.flush()
                    print(f"round {round_}/{args.runs} {label:<55} {r['wallSeconds']:6.2f} s  "
                          f"bound {r['boundWithFileSecret']:,}/{args.records:,}  429s {r['answered429']}  "
                          f"exit {r['exit']}  other load {r['otherLoadClientCore']:.2f}/{r['otherLoadServerCore']:.2f}"
                          + ("" if r["kept"] else "  (again)"), file=sys.stderr, flush=True)
                    if r["kept"]:
                        break
                results.append(r)
    print_bulk_table(results, skipped)


def print_bulk_table(results, skipped=()):
    records, limit = results[0]["records"], results[0].get("rateLimit", 300)
    rounds = max(sum(r["importer"] == label for r in results) for label in in_order(r["importer"] for r in results))
    print()
    print(f"{records:,} records, batches of 100, into `authing-otp emulator --rate-limit {limit}`: "
          f"median of {rounds} runs (range)")
    print()
    print("| importer | wall time | records bound afterwards | not bound | bound records/s | requests "
          "| answered 429 | exit | client CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label in in_order(r["importer"] for r in results):
        rs = [r for r in results if r["importer"] == label]
        print(
            f"| {label} | {median_range([r['wallSeconds'] for r in rs], fmt_seconds)} "
            f"| {median_range([r['boundWithFileSecret'] for r in rs], fmt_int)} "
            f"| {median_range([r['records'] - r['boundWithFileSecret'] for r in rs], fmt_int)} "
            f"| {median_range([r['boundPerSecond'] for r in rs], fmt_int)} "
            f"| {median_range([r['requests'] for r in rs], fmt_int)} "
            f"| {median_range([r['answered429'] for r in rs], fmt_int)} "
            f"| {median_range([r['exit'] for r in rs], fmt_int)} "
            f"| {median_range([r['cpuSeconds'] for r in rs], fmt_seconds)} "
            f"| {median_range([r['peakRssKiB'] for r in rs], fmt_mb)} |"
        )
    print()
    if "otherLoadClientCore" in results[0]:
        oc = [r["otherLoadClientCore"] for r in results]
        os_ = [r["otherLoadServerCore"] for r in results]
        redone = sum(r.get("attempts", 1) - 1 for r in results)
        noisy = sum(r.get("noisy", False) for r in results)
        print(f"{len(results)} imports kept; {redone} done again because other processes used more than "
              f"{results[0]['maxOtherLoad']:.2f} of the importer's or the emulator's core meanwhile; {noisy} kept "
              f"above that. Other processes' load (importer's core / emulator's core): median "
              f"{statistics.median(oc):.2f} / {statistics.median(os_):.2f}, max {max(oc):.2f} / {max(os_):.2f}.")
    for s in skipped:
        print(f"SKIPPED {s}")


def cmd_tables(args):
    """Prints the tables again from a --log file (a KEEP=1 run's measurements.jsonl)."""
    calls, bulk = [], []
    with open(args.from_log) as f:
        for line in f:
            r = json.loads(line)
            if "importer" in r:
                if r.get("kept", True):
                    bulk.append(r)
            elif r.get("kept", True):
                calls.append(r)
    if calls:
        print_calls_tables(calls)
    if bulk:
        print_bulk_table(bulk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--node", default="node")
    common.add_argument("--node-modules", help="node_modules holding authing-node-sdk; unset: no Node rows")
    common.add_argument("--node-skip", help="why there are no Node rows")
    common.add_argument("--log", default=os.devnull, help="append every measurement here as JSON Lines")
    common.add_argument("--work", default="/tmp")
    common.add_argument("--measure", required=True, help="examples/peers_measure (the launcher)")
    calls = sub.add_parser("calls", parents=[common])
    calls.add_argument("--stub", required=True)
    calls.add_argument("--rust-client", required=True)
    calls.add_argument("--python-authing", help="python of a venv with authing 5.1.0")
    calls.add_argument("--python-authing-skip")
    calls.add_argument("--python-genauth", help="python of a venv with genauth 5.1.0")
    calls.add_argument("--python-genauth-skip")
    calls.add_argument("--runs", type=int, default=5)
    calls.add_argument("--concurrency", default="1,32")
    calls.add_argument("--rust-calls", type=int, default=20000)
    calls.add_argument("--node-calls", type=int, default=5000)
    calls.add_argument("--python-calls", type=int, default=3000)
    calls.add_argument("--max-other-load", type=float, default=0.25,
                       help="redo a measurement when other processes used more of the client's or the stub's core")
    calls.add_argument("--retries", type=int, default=3)
    bulk = sub.add_parser("bulk", parents=[common])
    bulk.add_argument("--cli", required=True, help="the authing-otp command")
    bulk.add_argument("--records", type=int, default=100000)
    bulk.add_argument("--rate-limit", type=int, default=300)
    bulk.add_argument("--runs", type=int, default=3)
    bulk.add_argument("--node-concurrency", default="1,4", help="Node loops to run: batches in flight, comma-separated")
    bulk.add_argument("--max-other-load", type=float, default=0.25,
                      help="redo an import when other processes used more of the importer's or the emulator's core")
    bulk.add_argument("--retries", type=int, default=3)
    tables = sub.add_parser("tables", help="print the tables again from a --log file")
    tables.add_argument("from_log", metavar="LOG")
    args = parser.parse_args()
    args.here = os.path.dirname(os.path.abspath(__file__))
    {"calls": cmd_calls, "bulk": cmd_bulk, "tables": cmd_tables}[args.command](args)


if __name__ == "__main__":
    main()
