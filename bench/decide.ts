/**
 * `npm run bench:decide`: decisions per second on one core and per-decision latency of `decide()`
 * on a generated scheme (10k licenses, 1k organization partners), against the same decisions in
 * Cedar. Prints one JSON line on stdout (progress on stderr) and writes bench/results/decide.json.
 *
 * Phases, with a full GC between them: generate and compile; one pass recording the outcome mix
 * (doubles as warm-up) and a second warm-up pass; throughput (whole passes over the inputs for a
 * few seconds); timer overhead; per-decision latency. Then the same for Cedar on a sample, after an
 * agreement pass that compares its allow/deny with Clearance's for every sampled input.
 * Env: BENCH_DECIDE_CEDAR=0 leaves Cedar out (its policy slicing takes minutes on a busy machine).
 */
import { loadavg } from "node:os";
import { decide } from "../src/policy/decide.js";
import { decisionView } from "../src/policy/words.js";
import type { Decision } from "../src/policy/types.js";
import { compileScheme, type CompiledScheme } from "../src/scheme/compile.js";
import { schemeFileSchema } from "../src/scheme/schema.js";
import { CedarAnchor } from "./cedar.js";
import { generateWorld, type World } from "./generate.js";
import { generateInputs, type Input } from "./inputs.js";
import {
  collectGarbage,
  latencies,
  log,
  percentiles,
  resultHead,
  round,
  sink,
  throughput,
  timerOverhead,
  writeResult,
} from "./results.js";

const SEED = 20260701;
const SIZES = { organizations: 1_000, licenses: 10_000, principals: 20_000 };
const INPUTS = 100_000;
const THROUGHPUT_SECONDS = 5;
const LATENCY_SAMPLES = 200_000;
const CEDAR_SAMPLE = 20_000;
const CEDAR_THROUGHPUT_SECONDS = 5;
const UNSLICED_SAMPLE = 200;
const GOALS = { decisions_per_sec: 1_000_000, p99_us: 5 };

function compile(world: World): { scheme: CompiledScheme; compileMs: number } {
  const t0 = performance.now();
  const result = compileScheme(schemeFileSchema.parse(world.scheme));
  const compileMs = performance.now() - t0;
  if (!result.ok) {
    const shown = result.problems.slice(0, 5).map((p) => `${p.path.join(".")}: ${p.message}`);
    throw new Error(`generated scheme does not compile:\n${shown.join("\n")}`);
  }
  return { scheme: result.scheme, compileMs };
}

type Verdict = Pick<Decision, "decision" | "reason">;

function outcomeMix(scheme: CompiledScheme, inputs: readonly Input[]) {
  const outcomes = { allow: 0, deny: 0, fallback: 0 };
  const reasons: Record<string, number> = {};
  // For the Cedar agreement check. Only the outcome and reason (constant strings) are kept: keeping
  // the Decision objects makes V8 pretenure decide()'s allocations into old space, which halves
  // the throughput measured afterwards (a real effect for callers that hold many decisions).
  const verdicts: Verdict[] = [];
  for (const { principal, request } of inputs) {
    const d = decide(scheme, principal, request);
    outcomes[d.decision]++;
    const key = d.decision === "fallback" ? `fallback:${d.reason}` : d.reason;
    reasons[key] = (reasons[key] ?? 0) + 1;
    if (verdicts.length < CEDAR_SAMPLE) verdicts.push({ decision: d.decision, reason: d.reason });
  }
  const sorted = Object.fromEntries(Object.entries(reasons).sort((a, b) => b[1] - a[1]));
  return { outcomes, reasons: sorted, verdicts };
}

/** The same decisions through Cedar: agreement with Clearance, then throughput and latency. */
function measureCedar(scheme: CompiledScheme, inputs: readonly Input[], verdicts: readonly Verdict[]) {
  log(`cedar: encoding and preparsing the policy set`);
  const anchor = new CedarAnchor(scheme);
  const built = performance.now();
  const calls = inputs.slice(0, CEDAR_SAMPLE).map((i, k) => {
    if (k % 5000 === 0) log(`cedar: ${k} requests built, ${anchor.slices} policy slices preparsed`);
    return anchor.call(i.principal, i.request);
  });
  const buildSeconds = (performance.now() - built) / 1000;
  collectGarbage();
  log(`cedar: agreement over ${CEDAR_SAMPLE} inputs`);
  let agree = 0;
  let errors = 0;
  const disagreements: Record<string, number> = {};
  calls.forEach((call, i) => {
    const c = anchor.decide(call);
    errors += c.errors;
    const d = verdicts[i]!;
    if (c.allow === (d.decision === "allow")) agree++;
    else {
      const key = `clearance ${d.decision}/${d.reason}, cedar ${c.allow ? "allow" : "deny"}`;
      disagreements[key] = (disagreements[key] ?? 0) + 1;
    }
  });
  const one = (i: number) => (anchor.decide(calls[i]!).allow ? 1 : 0);
  collectGarbage();
  log(`cedar throughput (${CEDAR_THROUGHPUT_SECONDS}s)`);
  const rate = throughput(CEDAR_SAMPLE, CEDAR_THROUGHPUT_SECONDS, one);
  collectGarbage();
  log(`cedar latency (${CEDAR_SAMPLE} timed decisions)`);
  const lat = percentiles(latencies(CEDAR_SAMPLE, CEDAR_SAMPLE, one));

  // Without slicing: every license permit in one set, as Cedar would see it naively.
  log(`cedar without policy slicing (${UNSLICED_SAMPLE} decisions, ${anchor.policies} policies)`);
  const whole = inputs.slice(0, UNSLICED_SAMPLE).map((i) => anchor.call(i.principal, i.request, true));
  const wholeAgree = whole.filter((c, i) => anchor.decide(c).allow === (verdicts[i]!.decision === "allow"));
  const wholeRate = throughput(UNSLICED_SAMPLE, 0, (i) => (anchor.decide(whole[i]!).allow ? 1 : 0));

  const agreement = round((100 * agree) / CEDAR_SAMPLE, 3);
  const result = {
    version: anchor.version,
    policies: anchor.policies,
    sample: CEDAR_SAMPLE,
    decisions_per_sec: Math.round(rate.perSec),
    decisions_per_cpu_sec: Math.round(rate.perCpuSec),
    cpu_share: round(rate.cpuShare, 2),
    p50_us: lat.p50_us,
    p99_us: lat.p99_us,
    p999_us: lat.p999_us,
    agreement,
    policy_slices: anchor.slices,
    slicing_seconds: round(buildSeconds, 1),
    unsliced: {
      policies: anchor.policies,
      sample: UNSLICED_SAMPLE,
      decisions_per_sec: round(wholeRate.perSec, 1),
      agreement: round((100 * wholeAgree.length) / UNSLICED_SAMPLE, 3),
    },
  };
  return { result, rate, agreement, disagreements, errors, policies: anchor.policies };
}

function main(): void {
  log("generating the scheme and inputs");
  const world = generateWorld(SEED, SIZES);
  const { scheme, compileMs } = compile(world);
  const inputs = generateInputs(world, INPUTS, SEED + 1);
  const principals = inputs.map((i) => i.principal);
  const requests = inputs.map((i) => i.request);

  log(`outcome mix and warm-up over ${INPUTS} inputs`);
  const mix = outcomeMix(scheme, inputs);
  const one = (i: number) => (decide(scheme, principals[i]!, requests[i]!).decision === "allow" ? 1 : 0);
  throughput(INPUTS, 0, one); // one more full pass: the optimizing tier has settled before timing

  collectGarbage();
  log(`clearance throughput (${THROUGHPUT_SECONDS}s)`);
  const rate = throughput(INPUTS, THROUGHPUT_SECONDS, one);

  // Facts about a principal are worked out on first sight and kept with the scheme version: one
  // pass over copies of the principals measures decisions about principals never seen before.
  const copies = principals.map((p) => structuredClone(p));
  collectGarbage();
  log(`clearance, principals seen for the first time (one pass of ${INPUTS})`);
  const firstSight = throughput(INPUTS, 0, (i) =>
    decide(scheme, copies[i]!, requests[i]!).decision === "allow" ? 1 : 0,
  );
  collectGarbage();
  log("rendering decisions into words (decisionView), 1 s");
  const rendered = throughput(
    INPUTS,
    1,
    (i) => JSON.stringify(decisionView(decide(scheme, principals[i]!, requests[i]!))).length,
  );

  collectGarbage();
  const overhead = timerOverhead(LATENCY_SAMPLES);
  collectGarbage();
  log(`clearance latency (${LATENCY_SAMPLES} timed decisions)`);
  const lat = percentiles(latencies(INPUTS, LATENCY_SAMPLES, one));

  // BENCH_DECIDE_CEDAR=0 leaves Cedar out (its policy slicing takes minutes on a busy machine).
  const cedar = process.env.BENCH_DECIDE_CEDAR === "0" ? null : measureCedar(scheme, inputs, mix.verdicts);
  log(`sink ${sink}`);

  const notes = [
    "Clearance times decide() end to end: reading the ISO time, the full check list with each check's finding (code and parameters, no sentences), fallbacks. A principal's facts (home/foreign, relevant nationalities, embargo and screening findings, licenses held) are worked out on first sight and kept with the scheme version: first_sight is one pass over copies of the principals, each seen for the first time.",
    "rendered_per_sec: decide() plus putting every check into words (decisionView) and JSON.stringify, as the decision API answers.",
    "Cedar times statefulIsAuthorized only, with the policy set preparsed once; the entity slice (principal, organization, model) and context are built before timing, including home/relevant nationalities and epoch-ms time, which favours Cedar.",
    cedar === null
      ? "Cedar left out of this run (BENCH_DECIDE_CEDAR=0)."
      : `Cedar encodes each approved license as its own permit (${cedar.policies} policies in all), since Cedar cannot express 'some license of this principal satisfies ...'; each request is decided against a slice (base policies + its principal's and organization's licenses), preparsed before timing. cedar.unsliced is the whole set.`,
    "Clearance fallback counts as Cedar deny (Cedar decides the requested model only).",
    "Latency samples include the timer overhead (timer_overhead_us); nothing is subtracted.",
    "Node runs decide() on one thread; V8's GC may use helper threads on other cores. decisions_per_cpu_sec divides by process CPU time (all threads); cpu_share below ~0.95 means other work on the machine took the core part of the time, and the wall-clock rates understate.",
  ];
  if (cedar !== null && cedar.agreement < 100)
    notes.push(`Cedar disagreements: ${JSON.stringify(cedar.disagreements)}`);
  if (cedar !== null && cedar.errors > 0)
    notes.push(`Cedar reported ${cedar.errors} policy evaluation errors (policies skipped).`);

  const decisionsPerSec = Math.round(rate.perSec);
  const result = {
    ...resultHead("decide"),
    load_average: loadavg().map((x) => round(x, 2)),
    scheme: {
      models: scheme.models.size,
      country_partners: scheme.countryPartners.length,
      organization_partners: scheme.organizationPartners.size,
      licenses: scheme.licenses.size,
      principals: SIZES.principals,
      inputs: INPUTS,
      compile_ms: round(compileMs, 1),
    },
    decisions_per_sec: decisionsPerSec,
    decisions_per_cpu_sec: Math.round(rate.perCpuSec),
    cpu_share: round(rate.cpuShare, 2),
    first_sight: {
      decisions_per_sec: Math.round(firstSight.perSec),
      decisions_per_cpu_sec: Math.round(firstSight.perCpuSec),
    },
    rendered_per_sec: Math.round(rendered.perSec),
    p50_us: lat.p50_us,
    p99_us: lat.p99_us,
    p999_us: lat.p999_us,
    max_us: lat.max_us,
    timer_overhead_us: { p50: overhead.p50_us, p99: overhead.p99_us },
    latency_samples: LATENCY_SAMPLES,
    outcomes: mix.outcomes,
    reasons: mix.reasons,
    cedar: cedar?.result ?? null,
    ratio_vs_cedar: cedar === null ? null : round(rate.perSec / cedar.rate.perSec, 2),
    ratio_vs_cedar_cpu: cedar === null ? null : round(rate.perCpuSec / cedar.rate.perCpuSec, 2),
    goals: {
      ...GOALS,
      met: decisionsPerSec >= GOALS.decisions_per_sec && lat.p99_us <= GOALS.p99_us,
      decisions_per_sec_met: decisionsPerSec >= GOALS.decisions_per_sec,
      p99_us_met: lat.p99_us <= GOALS.p99_us,
    },
    notes,
  };
  const path = writeResult("decide", result);
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
