// How verify's findings read: the intact part of a file in words, and the
// human report (what `dmrec verify` prints without --json). Every text that
// came from a capture is escaped where the message is made (file.ts,
// sets.ts), so these lines are plain.
import { nsToIso } from "../query/time.ts";
import type { IntactPart, VerifyReport } from "./kinds.ts";

/** ISO 8601 with nanoseconds, or "-" for no time. */
export function formatNs(ns: bigint | null): string {
  return ns === null ? "-" : nsToIso(ns);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "3 segments, 5 events, 0 loss records, T1 to T2, through byte N" */
export function describeIntact(p: IntactPart, withEnd = true): string {
  const range = p.firstTsNs === null ? "no events" : `${formatNs(p.firstTsNs)} to ${formatNs(p.lastTsNs)}`;
  const lost = p.losses > 0 ? ` (${plural(p.lostCalls, "call")} lost)` : "";
  const aggregated = p.aggregates > 0 ? `, ${plural(p.aggregates, "aggregate")} (${plural(p.aggregatedCalls, "call")})` : "";
  const end = withEnd ? `, through byte ${p.endOffset}` : "";
  return `${plural(p.segments, "segment")}, ${plural(p.events, "event")}${aggregated}, ${plural(p.losses, "loss record")}${lost}, ${range}${end}`;
}

/** Human lines for a report: per file its state, then each problem and note. */
export function reportLines(report: VerifyReport): string[] {
  const lines: string[] = [];
  for (const f of report.files) {
    if (f.kind === "ok") {
      const signed =
        f.signature === "valid"
          ? f.auth
            ? ", authenticated"
            : ", signature valid"
          : f.signature === "not_checked"
            ? f.auth
              ? ", signed (its first key not vouched for)"
              : ", signed (not checked)"
            : "";
      lines.push(`${f.file}: OK (${describeIntact(f.intact, false)}, sealed${signed})`);
    }
    for (const p of f.problems) lines.push(p.message);
    lines.push(...f.notes);
  }
  for (const s of report.sets) {
    for (const p of s.problems) lines.push(p.message);
    lines.push(...s.notes);
  }
  return lines;
}
