/**
 * `npm run bench:bodies`: the gateway's per-byte work on large bodies, which bench:gateway's small
 * bodies do not show. CPU per body, in this process, for:
 * - the JSON depth limit (DepthGauge) on a long prompt (few brackets: counted natively) and on a
 *   long conversation (hundreds of brackets: scanned byte by byte), beside JSON.parse of the same
 *   body, which the gateway does anyway;
 * - reading the usage of a large non-streamed answer (an embeddings batch) from its last 64 KiB,
 *   as the relay now does first, and by parsing it whole, as it did before.
 * Prints one JSON line and writes bench/results/bodies.json, with the machine's load.
 */
import { cpus, loadavg } from "node:os";
import { usageFromBody, usageFromTail } from "../src/gateway/usage.js";
import { DepthGauge } from "../src/http/index.js";
import { collectGarbage, log, round, writeResult } from "./results.js";

/** CPU time (user + system) per call, in µs, over enough calls to last about half a second. */
function perCall(run: () => unknown): number {
  run();
  let n = 1;
  for (;;) {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) run();
    const used = process.cpuUsage(start);
    const us = used.user + used.system;
    if (us >= 500_000) return round(us / n, 2);
    n *= 2;
  }
}

const prompt = Buffer.from(
  JSON.stringify({
    model: "mythos-5",
    messages: [{ role: "user", content: "lorem ipsum dolor sit amet ".repeat(4_000) }],
  }),
);
const conversation = Buffer.from(
  JSON.stringify({
    model: "mythos-5",
    messages: Array.from({ length: 300 }, (_, i) => ({
      role: i % 2 === 0 ? "user" : "assistant",
      content: [{ type: "text", text: "lorem ipsum dolor sit amet ".repeat(12) }],
    })),
  }),
);
const embeddings = Buffer.from(
  JSON.stringify({
    object: "list",
    data: Array.from({ length: 100 }, (_, i) => ({
      object: "embedding",
      index: i,
      embedding: Array.from({ length: 1536 }, (_, j) => Math.sin(i * 1536 + j)),
    })),
    model: "m",
    usage: { prompt_tokens: 4321, total_tokens: 4321 },
  }),
);
const TAIL = 64 * 1024;

function main(): void {
  const loadBefore = loadavg().map((x) => round(x, 2));
  const depth = (body: Buffer) => {
    collectGarbage();
    return {
      bytes: body.length,
      depth_check_us: perCall(() => new DepthGauge(128).scan(body)),
      json_parse_us: perCall(() => JSON.parse(body.toString("utf8"))),
    };
  };
  log("depth check");
  const long_prompt = depth(prompt);
  const long_conversation = depth(conversation);
  log("usage of an embeddings answer");
  collectGarbage();
  const usage = {
    bytes: embeddings.length,
    from_tail_us: perCall(() =>
      usageFromTail(embeddings.subarray(embeddings.length - TAIL).toString("utf8")),
    ),
    whole_body_us: perCall(() => usageFromBody(embeddings.toString("utf8"))),
  };
  const out = {
    bench: "bodies",
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    loadavg_before: loadBefore,
    loadavg: loadavg().map((x) => round(x, 2)),
    depth: { long_prompt, long_conversation },
    usage,
    notes: [
      "CPU time (user + system) per call in this process; JSON.parse of the same body is the yardstick (the gateway parses every request body)",
      "usage: the relay reads a non-streamed answer over 64 KiB from its last 64 KiB first and parses it whole only when no usage is there",
    ],
  };
  log(`wrote ${writeResult("bodies", out)}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main();
