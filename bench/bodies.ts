/**
 * `npm run bench:bodies`: the gateway's per-byte work on large bodies, which bench:gateway's small
 * bodies do not show. CPU per body, in this process, for:
 * - the JSON depth limit (DepthGauge) on a long prompt (few brackets: counted natively) and on a
 *   long conversation (hundreds of brackets: scanned byte by byte), and the check for top-level
 *   members named twice (duplicateMember: strings skipped natively), beside JSON.parse of the same
 *   body, which the gateway does anyway;
 * - reading the usage of a large non-streamed answer (an embeddings batch) from its last 64 KiB,
 *   as the relay now does first, and by parsing it whole, as it did before;
 * - the request path's object literals (not per byte, but per request): spread and then members
 *   added, as they were, against assigned, as they are now (V8's slow path on Node 20).
 * Prints one JSON line and writes bench/results/bodies.json, with the machine's load.
 */
import { loadavg } from "node:os";
import { duplicateMember } from "../src/gateway/request-facts.js";
import { usageFromBody, usageFromTail } from "../src/gateway/usage.js";
import { DepthGauge } from "../src/http/index.js";
import { collectGarbage, log, resultHead, round, writeResult } from "./results.js";

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
    const text = body.toString("utf8");
    return {
      bytes: body.length,
      depth_check_us: perCall(() => new DepthGauge(128).scan(body)),
      duplicate_check_us: perCall(() => duplicateMember(text)),
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
  log("object literals of the request path");
  collectGarbage();
  const literals = objectLiterals();
  const out = {
    ...resultHead("bodies"),
    loadavg_before: loadBefore,
    loadavg: loadavg().map((x) => round(x, 2)),
    depth: { long_prompt, long_conversation },
    usage,
    literals,
    notes: [
      "CPU time (user + system) per call in this process; JSON.parse of the same body is the yardstick (the gateway parses every request body)",
      "duplicate_check_us: the scan for top-level members named twice, run on every request body after it parsed (a body is refused when one is)",
      "usage: the relay reads a non-streamed answer over 64 KiB from its last 64 KiB first and parses it whole only when no usage is there",
      "literals: each shape as the request path wrote it before stop 24 (spread, then members) and as it writes it now (Object.assign, then members); the lint rule on the request path's files refuses the first",
    ],
  };
  log(`wrote ${writeResult("bodies", out)}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/**
 * Three literals the request path builds per request, in the spread form and the assigned form,
 * each fed fresh objects as the gateway's are (an upstream's headers, a decision).
 */
function objectLiterals() {
  const upstream = () => ({ "content-type": "application/json", "x-request-id": "req-1" });
  const auth = { authorization: "Bearer sk-upstream" };
  const decision = () => ({
    decision: "allow",
    reason: "partner-country",
    model: "mythos-5",
    served_model: "mythos-5",
    grant: null,
    checks: [],
    scheme: { digest: "sha256:0" },
  });
  const identity = { issuer: "https://idp.example", subject: "s" };
  const pair = (spread: () => unknown, assigned: () => unknown) => ({
    spread_us: perCall(spread),
    assigned_us: perCall(assigned),
  });
  return {
    answer_head: pair(
      () => ({ ...upstream(), "content-length": "120" }),
      () => {
        const h: Record<string, string> = Object.assign({}, upstream());
        h["content-length"] = "120";
        return h;
      },
    ),
    upstream_request_headers: pair(
      () => ({
        ...{ traceparent: "00-0-0-01" },
        ...auth,
        "content-type": "application/json",
        "accept-encoding": "identity",
        accept: "application/json",
      }),
      () => {
        const h: Record<string, string> = Object.assign({}, { traceparent: "00-0-0-01" }, auth);
        h["content-type"] = "application/json";
        h["accept-encoding"] = "identity";
        h.accept = "application/json";
        return h;
      },
    ),
    decision_with_identity: pair(
      () => ({ ...decision(), identity }),
      () => Object.assign({}, decision(), { identity }),
    ),
  };
}

main();
