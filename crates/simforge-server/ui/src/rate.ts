// Throughput from successive polls: runs finished per second over the last polls.

export interface Sample {
  t: number;
  done: number;
}

const WINDOW = 15; // polls kept per series (~30 s at 2 s)

export class RateTracker {
  private series = new Map<string, Sample[]>();
  private lastAt: number | undefined;

  /** Records one poll (once per `at`). */
  record(at: number | undefined, values: [string, number][]) {
    if (at === undefined || at === this.lastAt) return;
    this.lastAt = at;
    for (const [key, done] of values) {
      let s = this.series.get(key);
      if (!s) this.series.set(key, (s = []));
      // A count that went down (resubmission, deletion) starts a new series.
      if (s.length && done < s[s.length - 1].done) s.length = 0;
      s.push({ t: at, done });
      if (s.length > WINDOW) s.shift();
    }
  }

  /** Runs per second, or undefined until two polls at least 1.5 s apart exist. */
  rate(key: string): number | undefined {
    const s = this.series.get(key);
    if (!s || s.length < 2) return undefined;
    const dt = (s[s.length - 1].t - s[0].t) / 1000;
    if (dt < 1.5) return undefined;
    return (s[s.length - 1].done - s[0].done) / dt;
  }
}

export function fmtRate(r: number | undefined): string {
  if (r === undefined) return '…';
  if (r === 0) return '0/s';
  if (r >= 10) return `${r.toFixed(0)}/s`;
  if (r >= 0.1) return `${r.toFixed(1)}/s`;
  return `${(r * 60).toFixed(1)}/min`;
}

/** Seconds left at `rate`, or undefined when unknown or stalled. */
export function eta(remaining: number, rate: number | undefined): number | undefined {
  if (remaining <= 0) return 0;
  if (!rate || rate <= 0) return undefined;
  return remaining / rate;
}
