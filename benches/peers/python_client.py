"""The official Python SDKs' side of the side-by-side benchmark (benches/peers/run.sh): reads OTP
secrets by email the way a user of `authing` 5.x (or GenAuth's `genauth` 5.x) writes it.

    <venv>/bin/python python_client.py --sdk authing|genauth --calls N --concurrency C --host URL \
        [--access-key-id ID] [--access-key-secret SECRET]

One ManagementClient (token mode: the SDK's only scheme). Concurrency 1 is a plain loop;
concurrency C is `ThreadPoolExecutor(C).map` over the N calls, one client shared (the SDK is
synchronous, `requests` underneath). Call i reads user-<i>@example.com. The SDK returns the
answer's body as a dict: an answer without the expected secret, or an exception, counts as an
error. Prints one line of JSON like examples/peers_client.rs.
"""

import argparse
import json
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

SECRET = "HZ2F6J3AGNAVSOTV"


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sdk", choices=["authing", "genauth"], default="authing")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--host", required=True)
    parser.add_argument("--access-key-id", default="ak-bench")
    parser.add_argument("--access-key-secret", default="sk-bench")
    args = parser.parse_args()

    if args.sdk == "authing":
        from authing import ManagementClient
    else:
        from genauth import ManagementClient

    client = ManagementClient(
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        host=args.host,
    )

    errors = 0
    first_error = None
    lock = threading.Lock()

    def call(n):
        nonlocal errors, first_error
        try:
            res = client.get_otp_secret_by_user(user_id=f"user-{n}@example.com", user_id_type="email")
            ok = res.get("statusCode") == 200 and (res.get("data") or {}).get("secret") == SECRET
            problem = None if ok else f"answer: {json.dumps(res)[:200]}"
        except Exception as e:  # noqa: BLE001 - a benchmark counts every failure
            problem = f"{type(e).__name__}: {e}"
        if problem:
            with lock:
                errors += 1
                first_error = first_error or problem

    calls, concurrency = args.calls, max(1, args.concurrency)
    cpu, started = cpu_seconds(), time.perf_counter()
    if concurrency == 1:
        for n in range(calls):
            call(n)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for _ in pool.map(call, range(calls)):
                pass
    seconds = time.perf_counter() - started
    print(json.dumps({
        "client": f"{args.sdk} (Python)",
        "calls": calls,
        "concurrency": concurrency,
        "errors": errors,
        "firstError": first_error,
        "seconds": seconds,
        "callsPerSecond": calls / seconds,
        "loopCpuSeconds": cpu_seconds() - cpu,
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
