// Nanosecond wall-clock times <-> ISO 8601. Date only holds milliseconds, so Date does
// the calendar (exact for whole seconds) and BigInt carries the sub-second part.

const NS_PER_S = 1_000_000_000n;

/** A Date as ns since the Unix epoch. */
export function dateToNs(date: Date): bigint {
  return BigInt(date.getTime()) * 1_000_000n;
}

let lastSec: bigint | null = null;
let lastHead = "";

/**
 * ns since the Unix epoch -> `2026-11-26T01:02:03.123456789Z`, with `digits` (0..9)
 * fractional digits. Extra digits are cut, not rounded: a time never moves forward.
 */
export function nsToIso(ns: bigint, digits = 9): string {
  let sec = ns / NS_PER_S;
  let frac = ns % NS_PER_S;
  if (frac < 0n) {
    frac += NS_PER_S;
    sec -= 1n;
  }
  // Events come in time order, so most share the second of the one before.
  if (sec !== lastSec) {
    lastSec = sec;
    lastHead = new Date(Number(sec) * 1000).toISOString().replace(/\.\d{3}Z$/, "");
  }
  const head = lastHead;
  if (digits <= 0) return `${head}Z`;
  return `${head}.${frac.toString().padStart(9, "0").slice(0, digits)}Z`;
}

/** `problem` is null when the text is not ISO 8601 at all, else why its values are wrong. */
export type IsoParse = { ok: true; ns: bigint } | { ok: false; problem: string | null };

// Extended format only: date, optional time (minutes, seconds, up to 9 fractional digits),
// optional zone; a zone needs a time. A space may stand for the T, as RFC 3339 allows.
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/**
 * Parses an ISO 8601 date or date-time into exact ns since the epoch. Without a zone the
 * time is UTC (captures are UTC; the analyst's local zone is not the host's).
 */
export function parseIsoNs(text: string): IsoParse {
  const m = ISO_RE.exec(text);
  if (!m) return { ok: false, problem: null };
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", , sign, oh = "0", om = "0"] = m;
  const n = (v: string | undefined) => Number(v);
  const fields: [string, number, number][] = [
    ["hour", n(h), 23], ["minute", n(mi), 59], ["second", n(s), 59],
    ["zone hour", n(oh), 23], ["zone minute", n(om), 59],
  ];
  for (const [what, value, max] of fields) {
    if (value > max) return { ok: false, problem: `${what} ${value} is out of range` };
  }
  const day = new Date(0);
  day.setUTCFullYear(n(y), n(mo) - 1, n(d));
  // setUTCFullYear rolls Feb 30 over into March; a rolled-over date was not a real one.
  if (day.getUTCFullYear() !== n(y) || day.getUTCMonth() !== n(mo) - 1 || day.getUTCDate() !== n(d)) {
    return { ok: false, problem: `${y}-${mo}-${d} is not a calendar date` };
  }
  const offset = (sign === "-" ? -1 : 1) * (n(oh) * 3600 + n(om) * 60);
  const sec = day.getTime() / 1000 + n(h) * 3600 + n(mi) * 60 + n(s) - offset;
  return { ok: true, ns: BigInt(sec) * NS_PER_S + BigInt(frac.padEnd(9, "0")) };
}

/** a / b rounded down (BigInt division rounds toward zero); b > 0. A crafted capture's times may be negative. */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

const DURATION_UNITS: [string, bigint][] = [["d", 86_400n * NS_PER_S], ["h", 3600n * NS_PER_S], ["m", 60n * NS_PER_S], ["s", NS_PER_S], ["ms", 1_000_000n], ["us", 1000n]];

/** A positive duration in ns as the largest unit it is a whole number of: 10ms, 90s, 7m, 1d, 1500ns. */
export function nsToDuration(ns: bigint): string {
  for (const [unit, size] of DURATION_UNITS) if (ns % size === 0n) return `${ns / size}${unit}`;
  return `${ns}ns`;
}
