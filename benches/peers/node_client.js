// The official Node SDK's side of the side-by-side benchmark (benches/peers/run.sh): reads OTP
// secrets by email the way a user of authing-node-sdk 4.x writes it.
//
//   NODE_PATH=<dir>/node_modules node node_client.js --calls N --concurrency C --host URL \
//     [--access-key-id ID] [--access-key-secret SECRET]
//
// One ManagementClient (AK/SK signing: the only scheme of 4.x, no token request); C async
// workers share the N calls, each awaiting one getOtpSecretByUser at a time (a promise pool;
// C = 1 is a plain sequential loop). Call i reads user-<i>@example.com. The SDK returns the
// answer's body and throws on an HTTP error: an answer without the expected secret, or a
// throw, counts as an error. Prints one line of JSON like examples/peers_client.rs.
"use strict";

const { ManagementClient } = require("authing-node-sdk");

const SECRET = "HZ2F6J3AGNAVSOTV";

function options() {
  const o = { calls: 5000, concurrency: 32, host: "", accessKeyId: "ak-bench", accessKeySecret: "sk-bench" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${name} needs a value`);
    switch (name) {
      case "--calls": o.calls = Number(value); break;
      case "--concurrency": o.concurrency = Math.max(1, Number(value)); break;
      case "--host": o.host = value; break;
      case "--access-key-id": o.accessKeyId = value; break;
      case "--access-key-secret": o.accessKeySecret = value; break;
      default: throw new Error(`unknown argument ${name}`);
    }
  }
  if (!o.host) throw new Error("--host URL is required");
  return o;
}

async function main() {
  const o = options();
  const client = new ManagementClient({
    accessKeyId: o.accessKeyId,
    accessKeySecret: o.accessKeySecret,
    host: o.host,
  });

  let next = 0;
  let errors = 0;
  let firstError = null;
  const worker = async () => {
    for (;;) {
      const n = next++;
      if (n >= o.calls) return;
      try {
        const res = await client.getOtpSecretByUser({ userId: `user-${n}@example.com`, userIdType: "email" });
        if (res.statusCode !== 200 || !res.data || res.data.secret !== SECRET) {
          errors++;
          firstError ??= `answer: ${JSON.stringify(res).slice(0, 200)}`;
        }
      } catch (e) {
        errors++;
        firstError ??= String(e && e.message ? e.message : e);
      }
    }
  };

  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({
    client: "authing-node-sdk",
    calls: o.calls,
    concurrency: o.concurrency,
    errors,
    firstError,
    seconds,
    callsPerSecond: o.calls / seconds,
    loopCpuSeconds: (used.user + used.system) / 1e6,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
