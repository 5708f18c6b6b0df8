// `dmrec report --format html`: one file that needs nothing else (no network, scripts,
// fonts or style sheets) and runs no script at all: its Content-Security-Policy forbids
// any, so even a mistake in escaping could not run one. Every text is escaped for HTML;
// text from a capture is shown in <code>. The timeline is inline SVG (timeline.ts).
import { cutNote, type Line, type Piece, type ReportDocument } from "./document.ts";
import type { ReportFacts } from "./facts.ts";
import { htmlText } from "./html_text.ts";
import { timelineSvg } from "./timeline.ts";

function piece(p: Piece): string {
  if (typeof p === "string") return htmlText(p);
  if ("capture" in p) return (p.capture === "" ? "<i>(empty)</i>" : `<code>${htmlText(p.capture)}</code>`) + cutNote(p.cutFrom);
  return `<strong>${htmlText(p.strong)}</strong>`;
}

const line = (l: Line) => l.map(piece).join("");

/** Inline styles only (allowed by the policy), system fonts only. */
const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; padding: 0 1em; color: #1b1f24; background: #fff; }
h1 { font-size: 1.5em; word-break: break-all; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
code { font: .9em ui-monospace, monospace; background: #f2f4f7; padding: 0 .25em; border-radius: 3px; word-break: break-all; }
.verdict { padding: .7em 1em; border-radius: 6px; border: 1px solid #1a7f37; background: #dafbe1; }
.verdict.alarm { border-color: #cf222e; background: #ffebe9; }
ul { padding-left: 1.3em; }
li { margin: .15em 0; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #57606a; }
`;

/** Nothing may be fetched or run: no default source, inline styles, images only as data. */
const POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

export function reportHtml(doc: ReportDocument, facts: ReportFacts): string {
  const title = line(doc.title);
  let body = `<h1>${title}</h1>\n<p class="verdict${doc.alarming ? " alarm" : ""}">${line(doc.verdict)}</p>\n`;
  for (const s of doc.sections) {
    body += `<h${s.level}>${htmlText(s.heading)}</h${s.level}>\n`;
    for (const p of s.paragraphs) body += `<p>${line(p)}</p>\n`;
    if (s.items.length) body += `<ul>\n${s.items.map((i) => `<li>${line(i)}</li>`).join("\n")}\n</ul>\n`;
    if (s.timeline) body += `<h3>Calls over time</h3>\n${timelineSvg(facts)}\n`;
  }
  const plainTitle = doc.title.map((p) => (typeof p === "string" ? p : "capture" in p ? p.capture : p.strong)).join("");
  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta http-equiv="Content-Security-Policy" content="${POLICY}">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${htmlText(plainTitle)}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n${body}</body>\n</html>\n`
  );
}
