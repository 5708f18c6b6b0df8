// The report page's timeline as inline SVG: calls per time bucket (stats --histogram's
// buckets), ok and failed stacked, and each listed unload marked at its own time, forced
// ones apart. Tooltips are SVG <title>s, escaped like the rest of the page.
import { asBytes, escapeBytes } from "../query/escape.ts";
import { nsToDuration, nsToIso } from "../query/time.ts";
import type { DmrecEvent } from "../event.ts";
import type { ReportFacts } from "./facts.ts";
import { htmlText } from "./html_text.ts";

const W = 900;
const H = 250;
const LEFT = 56;
const RIGHT = 12;
const TOP = 14;
const BOTTOM = 58;
const PLOT_W = W - LEFT - RIGHT;
const PLOT_H = H - TOP - BOTTOM;

const COLORS = { ok: "#1a7f37", failed: "#8c959f", unload: "#0969da", forced: "#cf222e", axis: "#57606a" };

const f1 = (n: number) => n.toFixed(1);

export function timelineSvg(facts: ReportFacts): string {
  const t = facts.timeline;
  const open = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="calls over time">`;
  if (t.buckets.length === 0) return `${open}<text x="${LEFT}" y="${TOP + 20}">no calls</text></svg>`;
  const t0 = t.buckets[0]!.start;
  const t1 = t.buckets[t.buckets.length - 1]!.start + t.bucket_ns;
  const x = (ns: bigint) => LEFT + (Number(((ns - t0) * 1_000_000n) / (t1 - t0)) / 1_000_000) * PLOT_W;
  const max = Math.max(1, ...t.buckets.map((b) => b.calls));
  // A part that is not empty is a pixel high at least: one unload in a flood still shows.
  const h = (n: number) => (n === 0 ? 0 : Math.max(1, (n / max) * PLOT_H));
  const barW = PLOT_W / t.buckets.length;
  const parts: string[] = [open];

  for (const b of t.buckets) {
    if (b.calls === 0) continue;
    const bx = x(b.start);
    const okH = h(b.ok);
    const failedH = h(b.failed);
    const tip = `${nsToIso(b.start, 6)} + ${nsToDuration(t.bucket_ns)}: ${b.calls} calls, ${b.ok} ok, ${b.failed} failed${b.forced ? `, ${b.forced} forced` : ""}`;
    parts.push(
      `<g><title>${htmlText(tip)}</title>` +
        `<rect x="${f1(bx)}" y="${f1(TOP + PLOT_H - failedH)}" width="${f1(Math.max(1, barW - 1))}" height="${f1(failedH)}" fill="${COLORS.failed}"/>` +
        `<rect x="${f1(bx)}" y="${f1(TOP + PLOT_H - failedH - okH)}" width="${f1(Math.max(1, barW - 1))}" height="${f1(okH)}" fill="${COLORS.ok}"/></g>`,
    );
  }

  const mark = (e: DmrecEvent, color: string, what: string) => {
    const mx = f1(x(e.ts_ns));
    const name = e.name === null ? "(unreadable)" : escapeBytes(asBytes(e.name));
    parts.push(
      `<g><title>${htmlText(`${nsToIso(e.ts_ns, 6)}: ${name} ${what}`)}</title>` +
        `<line x1="${mx}" y1="${TOP}" x2="${mx}" y2="${TOP + PLOT_H}" stroke="${color}" stroke-width="1.5"/>` +
        `<path d="M${mx} ${TOP + 8}l-5 -8h10z" fill="${color}"/></g>`,
    );
  };
  for (const e of facts.unloads.items) mark(e, COLORS.unload, "unloaded");
  for (const e of facts.forced.items) mark(e, COLORS.forced, "unloaded by force");

  const base = TOP + PLOT_H;
  parts.push(
    `<line x1="${LEFT}" y1="${base}" x2="${W - RIGHT}" y2="${base}" stroke="${COLORS.axis}"/>`,
    `<line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${base}" stroke="${COLORS.axis}"/>`,
    `<text x="${LEFT - 6}" y="${TOP + 4}" text-anchor="end">${max}</text>`,
    `<text x="${LEFT - 6}" y="${base}" text-anchor="end">0</text>`,
    `<text x="${LEFT}" y="${base + 16}">${htmlText(nsToIso(t0, 3))}</text>`,
    `<text x="${W - RIGHT}" y="${base + 16}" text-anchor="end">${htmlText(nsToIso(t1, 3))}</text>`,
  );
  const legend: [string, string][] = [
    [COLORS.ok, "ok"],
    [COLORS.failed, "failed"],
    [COLORS.unload, "unload"],
    [COLORS.forced, "forced unload"],
  ];
  legend.forEach(([color, label], i) => {
    const lx = LEFT + i * 120;
    parts.push(`<rect x="${lx}" y="${base + 30}" width="12" height="12" fill="${color}"/><text x="${lx + 18}" y="${base + 40}">${label}</text>`);
  });
  parts.push(`<text x="${W - RIGHT}" y="${base + 40}" text-anchor="end">${htmlText(`calls per ${nsToDuration(t.bucket_ns)}`)}</text>`);
  parts.push("</svg>");
  return parts.join("");
}
