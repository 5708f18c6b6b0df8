// `dmrec report --format md`: Markdown that renders the same in GitHub, GitLab and Jira.
// Text from a capture goes into code spans, where no Markdown or HTML applies and nothing
// is turned into a link, fenced by more backticks than it holds. Our own text is escaped
// where it holds a mark that opens markup anywhere in a line (our text has underscores
// only inside words, which no renderer takes for emphasis), and every piece is one line:
// capture text cannot start a table, a heading or a list.
import { cutNote, type Line, type Piece, type ReportDocument } from "./document.ts";

const SPECIAL = /[\\`*[\]<>|~&]/g;

export function markdownText(text: string): string {
  return text.replace(SPECIAL, (c) => `\\${c}`);
}

/** A code span that shows `text` exactly: a fence longer than any run of backticks in it. */
export function codeSpan(text: string): string {
  if (text === "") return "(empty)";
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = "`".repeat(longest + 1);
  // One space each side is stripped again when both are there (not from spaces alone):
  // leading or trailing backticks and spaces survive.
  const pad = /^[` ]|[` ]$/.test(text) && !/^ +$/.test(text) ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

function piece(p: Piece): string {
  if (typeof p === "string") return markdownText(p);
  if ("capture" in p) return codeSpan(p.capture) + cutNote(p.cutFrom);
  return `**${markdownText(p.strong)}**`;
}

const line = (l: Line) => l.map(piece).join("");

export function reportMarkdown(doc: ReportDocument): string {
  // Blocks apart by one blank line: a list is one block.
  const blocks = [`# ${line(doc.title)}`, `${doc.alarming ? "> " : ""}${line(doc.verdict)}`];
  for (const s of doc.sections) {
    blocks.push(`${"#".repeat(s.level)} ${markdownText(s.heading)}`, ...s.paragraphs.map(line));
    if (s.items.length) blocks.push(s.items.map((i) => `- ${line(i)}`).join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}
