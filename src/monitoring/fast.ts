/**
 * Counters and histograms for the request path. prom-client's own hash a label object on every
 * update; these find a series with one Map look-up on the joined label values and update it with
 * plain arithmetic. The registry reads them as it reads prom-client's metrics (`get()` in the
 * same shape), so the exposition is prom-client's, unchanged.
 */
import type { Metric, Registry } from "prom-client";

interface CounterSeries {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

abstract class FastMetric<S> {
  protected readonly series = new Map<string, S>();
  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  protected find(values: readonly string[], make: (labels: Record<string, string>) => S): S {
    const key = values.join("\u0000");
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ""));
      s = make(labels);
      this.series.set(key, s);
    }
    return s;
  }

  reset(): void {
    this.series.clear();
  }
}

export class FastCounter extends FastMetric<CounterSeries> {
  readonly type = "counter";
  child(...values: string[]): { inc(n?: number): void } {
    const s = this.find(values, (labels) => ({ labels, value: 0 }));
    return { inc: (n = 1) => void (s.value += n) };
  }
  get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value })),
      aggregator: "sum",
    };
  }
}

export class FastHistogram extends FastMetric<HistogramSeries> {
  readonly type = "histogram";
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
  }
  child(...values: string[]): { observe(v: number): void } {
    const s = this.find(values, (labels) => ({
      labels,
      counts: new Float64Array(this.buckets.length),
      sum: 0,
      count: 0,
    }));
    const buckets = this.buckets;
    return {
      observe: (v) => {
        s.sum += v;
        s.count++;
        for (let i = 0; i < buckets.length; i++) {
          if (v <= (buckets[i] as number)) {
            s.counts[i]!++;
            return;
          }
        }
      },
    };
  }
  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: withLe(s.labels, b), value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: withLe(s.labels, "+Inf"), value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }
}

/** A series' labels and a bucket's bound (assigned: a spread with a member after it is V8's slow path on Node 20). */
function withLe(
  labels: Record<string, string | number>,
  le: string | number,
): Record<string, string | number> {
  const out = Object.assign({}, labels);
  out.le = le;
  return out;
}
