// A migration the way a user of authing-node-sdk 4.x without this project would write it: read
// the export, cut it into batches of 100, call importOtp for each; on an error, log it and go on
// to the next batch. For the bulk row of benches/peers/run.sh.
//
//   NODE_PATH=<dir>/node_modules AUTHING_HOST=… AUTHING_ACCESS_KEY_ID=… AUTHING_ACCESS_KEY_SECRET=… \
//     node node_bulk.js FILE [--concurrency N] [--batch-size N]
//
// FILE is JSON Lines, {"userId","secret","recoveryCode"?} per line (the shape `authing-otp
// import` reads). --concurrency 1 (the default) awaits one batch after the other; N > 1 keeps N
// batches in flight (a promise pool). Nothing is retried: the SDK has no retries, and a loop
// that logs and goes on does not add any. Errors are logged on stderr, one line per batch.
//
// Prints one line of JSON: records, batches, the batches and records the server accepted, the
// failed batches by kind (HTTP 429, other HTTP status, statusCode != 200 in an HTTP 200 body,
// no answer), and the wall seconds.
"use strict";

const fs = require("fs");
const { ManagementClient } = require("authing-node-sdk");

function options() {
  const o = { file: "", concurrency: 1, batchSize: 100 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--concurrency": o.concurrency = Math.max(1, Number(argv[++i])); break;
      case "--batch-size": o.batchSize = Math.max(1, Number(argv[++i])); break;
      default:
        if (o.file || argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
        o.file = argv[i];
    }
  }
  if (!o.file) throw new Error("usage: node_bulk.js FILE [--concurrency N] [--batch-size N]");
  return o;
}

async function main() {
  const o = options();
  const client = new ManagementClient({
    accessKeyId: process.env.AUTHING_ACCESS_KEY_ID,
    accessKeySecret: process.env.AUTHING_ACCESS_KEY_SECRET,
    host: process.env.AUTHING_HOST,
  });

  const started = process.hrtime.bigint();
  const records = fs
    .readFileSync(o.file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
  const batches = [];
  for (let i = 0; i < records.length; i += o.batchSize) {
    batches.push(
      records.slice(i, i + o.batchSize).map((r) => ({
        userId: r.userId,
        otp: r.recoveryCode ? { secret: r.secret, recoveryCode: r.recoveryCode } : { secret: r.secret },
      })),
    );
  }

  const summary = {
    client: "authing-node-sdk",
    records: records.length,
    batches: batches.length,
    concurrency: o.concurrency,
    batchesOk: 0,
    recordsOk: 0,
    failedHttp429: 0,
    failedHttpOther: 0,
    failedStatusCode: 0,
    failedNoAnswer: 0,
    firstError: null,
  };
  const failed = (kind, index, message) => {
    summary[kind]++;
    summary.firstError ??= message;
    console.error(`batch ${index}: ${message}`);
  };

  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= batches.length) return;
      try {
        const res = await client.importOtp({ list: batches[index] });
        if (res && res.statusCode === 200) {
          summary.batchesOk++;
          summary.recordsOk += batches[index].length;
        } else {
          failed("failedStatusCode", index, `statusCode ${res && res.statusCode}: ${res && res.message}`);
        }
      } catch (e) {
        const status = e.response && e.response.status;
        if (status === 429) failed("failedHttp429", index, `HTTP 429: ${e.message}`);
        else if (status) failed("failedHttpOther", index, `HTTP ${status}: ${e.message}`);
        else failed("failedNoAnswer", index, String(e.message || e));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  summary.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
