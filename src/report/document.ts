// The words of `dmrec report`, once for both formats: ReportFacts become headings,
// paragraphs and list items made of pieces. A piece is either our own text or text that
// came from a capture (`{ capture }`: a name, a comm, a host, a file name), which each
// renderer shows inert in its syntax (markdown.ts: a code span; html.ts: escaped <code>).
// Capture bytes are first made printable ASCII by the one escaping rule (escape.ts), so
// no piece holds a line break or a control character.
import { concat } from "../bytes.ts";
import type { DmrecEvent } from "../event.ts";
import { hookDescription } from "../info.ts";
import { asBytes, escapeBytes } from "../query/escape.ts";
import { MAX_GROUPS } from "../query/stats.ts";
import { nsToDuration, nsToIso } from "../query/time.ts";
import type { FileVerification, VerifyKind } from "../verify/kinds.ts";
import { plural } from "../verify/text.ts";
import { type Capped, type FloodGroup, HIDDEN_MIN_CALLS, MAX_KEPT, MAX_LINES, type HiddenGroup, type ReportFacts, type UnprivilegedGroup } from "./facts.ts";

/** `cutFrom`: the capture's text was this many bytes, of which the first MAX_SHOWN_BYTES are shown. */
export type Piece = string | { capture: string; cutFrom?: number } | { strong: string };
export type Line = Piece[];

export interface Section {
  heading: string;
  /** 2: a part of the report; 3: a list within "Calls that matter" */
  level: 2 | 3;
  paragraphs: Line[];
  items: Line[];
  /** the page draws its calls over time after this section (the counts it draws) */
  timeline?: true;
}

export interface ReportDocument {
  title: Line;
  /** the verdict line, first of all */
  verdict: Line;
  /** the verdict is not `ok`: renderers make it stand out */
  alarming: boolean;
  sections: Section[];
}

/** Longer texts are cut: a crafted megabyte name would make the ticket unreadable. `dmrec query` shows them whole. */
export const MAX_SHOWN_BYTES = 256;

/** What a renderer adds after a cut text (our words: digits and letters only). */
export const cutNote = (cutFrom: number | undefined) => (cutFrom === undefined ? "" : ` (the first ${MAX_SHOWN_BYTES} of ${cutFrom} bytes)`);

function shown(v: string | Uint8Array | null): Piece {
  if (v === null) return "(unreadable)";
  const bytes = asBytes(v);
  if (bytes.length <= MAX_SHOWN_BYTES) return { capture: escapeBytes(bytes) };
  return { capture: escapeBytes(bytes.subarray(0, MAX_SHOWN_BYTES)), cutFrom: bytes.length };
}

const time = (ns: bigint) => nsToIso(ns, 6);
const span = (first: bigint, last: bigint) => (first === last ? `at ${time(first)}` : `from ${time(first)} to ${time(last)} (${nsToDuration(last - first)})`);

/** What each verdict means, in words a ticket reader needs no manual for. */
const VERDICT_WORDS: Record<VerifyKind, string> = {
  ok: "intact",
  unsigned: "not signed by the key or pin given",
  unsealed: "intact as far as it goes, but not sealed: the recorder did not close it (a crash, a kill, or still recording)",
  truncated: "truncated: it ends inside a segment",
  unreadable: "unreadable",
  not_a_capture: "not a dmrec capture",
  missing_file: "incomplete: a file of its rotation set is missing",
  reordered: "reordered: segments were removed, duplicated or moved",
  bad_signature: "forged: a signature does not verify, or its key is not one the pin or key given vouches for",
  modified: "modified: its bytes were changed after recording",
};

const ANCHOR_WORDS = { pin: "the --pin given", endorsement: "the --pubkey given", "previous file": "the file before it in its set" } as const;

/** How far the file's signatures reach, and from which key. */
function authenticity(v: FileVerification): Line {
  const a = v.auth;
  if (!a) {
    // Version 1: one signature over the seal.
    if (v.signature === "valid") return ["the seal is signed by key ", shown(v.signedBy), ", which verifies with the --pubkey given"];
    if (v.signature === "invalid") return ["the seal's signature does not verify with the --pubkey given"];
    if (v.signature === "not_checked") return ["the seal is signed by key ", shown(v.signedBy), " (give --pubkey to check it)"];
    return ["not signed"];
  }
  const key = a.fingerprint === null ? "no first key" : `first key ${a.fingerprint}`;
  if (v.signature === "valid") return [`authentic: every segment${a.seal ? " and the seal" : ""}, signed by a forward-secure key chain from ${key}, vouched for by ${a.anchor ? ANCHOR_WORDS[a.anchor] : "nothing"}`];
  if (v.signature === "partial") {
    const through = a.throughNs === null ? "" : `, calls up to ${time(a.throughNs)}`;
    return [`authentic through segment ${a.through} of ${v.segments}${through}, from ${key}${a.anchor ? `, vouched for by ${ANCHOR_WORDS[a.anchor]}` : ""}; after that, nothing is authenticated`];
  }
  if (v.signature === "invalid") return [`not authentic: the key chain from ${key} is not vouched for, or does not hold (the problems below say which)`];
  if (v.signature === "not_checked") {
    return [`signed by a forward-secure key chain from ${key}, which nothing given vouches for: run dmrec verify --pin with the fingerprint record printed, or --pubkey`];
  }
  return ["not signed"];
}

function captureLine(v: FileVerification): Line {
  return [shown(v.file), `: ${VERDICT_WORDS[v.kind]}; `, ...authenticity(v)];
}

/** One line per distinct host, kernel and hook: a day's rotation set is one line, not 24. */
function hostLines(captures: FileVerification[]): Line[] {
  const groups = new Map<string, { first: FileVerification; files: number; start: bigint }>();
  for (const c of captures) {
    const h = c.header;
    if (!h) continue;
    const key = JSON.stringify([h.host.hostname, h.host.kernel, h.host.arch, h.host.boot_id, h.hook, h.module_free, h.find_module, h.dmrec_version]);
    const g = groups.get(key);
    if (!g) groups.set(key, { first: c, files: 1, start: h.start_ns });
    else {
      g.files++;
      if (h.start_ns < g.start) g.start = h.start_ns;
    }
  }
  return [...groups.values()].map(({ first, files, start }) => {
    const h = first.header!;
    return [
      shown(first.file),
      files > 1 ? ` and ${plural(files - 1, "other file")}` : "",
      ": host ",
      shown(h.host.hostname),
      ", kernel ",
      shown(h.host.kernel),
      " (",
      shown(h.host.arch),
      `), hook ${hookDescription(h)}, recording started ${time(start)} by dmrec `,
      shown(h.dmrec_version),
    ];
  });
}

/** The problems verify found, the first MAX_LINES of them. */
function problemLines(f: ReportFacts): Line[] {
  const all = [...f.captures.flatMap((c) => c.problems.map((p) => p.message)), ...f.setProblems];
  const lines = all.slice(0, MAX_LINES).map((p): Line => ["problem: ", shown(p)]);
  if (all.length > MAX_LINES) lines.push([`and ${all.length - MAX_LINES} more problems: dmrec verify lists each`]);
  return lines;
}

/** Each file's verdict, the first MAX_LINES of them; the rest counted by verdict. */
function evidenceLines(captures: FileVerification[]): Line[] {
  const lines = captures.slice(0, MAX_LINES).map(captureLine);
  const rest = captures.slice(MAX_LINES);
  if (rest.length) {
    const byVerdict = new Map<VerifyKind, number>();
    for (const c of rest) byVerdict.set(c.kind, (byVerdict.get(c.kind) ?? 0) + 1);
    lines.push([`and ${plural(rest.length, "more file")} (${[...byVerdict].map(([k, n]) => `${n} ${k}`).join(", ")}): dmrec verify lists each`]);
  }
  return lines;
}

/** A command line as a shell shows it: its arguments joined by spaces, shown and cut as one text. */
function shownArgs(argv: Uint8Array[]): Piece {
  return shown(concat(argv.flatMap((a, i) => (i ? [SPACE, a] : [a]))));
}

const SPACE = Uint8Array.of(0x20);

/** Who made a call: comm, pid, uid, and the executable and command line where known. */
function caller(e: DmrecEvent): Line {
  const out: Line = ["by ", shown(e.comm), ` (pid ${e.pid}, uid ${e.uid}`];
  if (e.exe !== null) out.push(", exe ", shown(e.exe));
  if (e.argv !== null && e.argv.length > 0) out.push(", argv ", shownArgs(e.argv));
  out.push(")");
  return out;
}

function unloadLine(e: DmrecEvent): Line {
  const freed = e.freed === true ? ", module freed" : e.freed === false ? ", module not freed" : "";
  return [`${time(e.ts_ns)}: `, shown(e.name), " unloaded ", ...caller(e), "; flags ", e.flags_names.length ? shown(e.flags_names.join("|")) : "0", freed];
}

function toctouLine(e: DmrecEvent): Line {
  const reads: Line = ["at entry ", shown(e.name_entry), ", at exit ", shown(e.name_exit)];
  if (e.name_kernel !== null) reads.push(", in the kernel ", shown(e.name_kernel));
  return [`${time(e.ts_ns)}: the name changed during the call (${e.toctou_reason.join(", ")}): `, ...reads, "; ", ...caller(e), "; result ", e.errno === null ? "ok" : shown(e.errno)];
}

function unprivilegedLine(g: UnprivilegedGroup): Line {
  const names: Line = [];
  g.names.forEach((n, i) => names.push(i ? ", " : "", shown(n)));
  if (g.moreNames) names.push(` and ${plural(g.moreNames, "other")}`);
  return [shown(g.comm), ` (pid ${g.pid}, uid ${g.uid}`, ...(g.exe === null ? [] : [", exe ", shown(g.exe)]), `): ${plural(g.calls, "call")} ${span(g.first, g.last)}`, ...(names.length ? ["; names ", ...names] : [])];
}

function hiddenLine(g: HiddenGroup): Line {
  const who = g.processes > MAX_KEPT ? `more than ${MAX_KEPT} processes` : plural(g.processes, "process", "processes");
  return [shown(g.name), `: ${plural(g.calls, "call")} answered ENOENT, from ${who}, ${span(g.first, g.last)}`];
}

function floodLine(g: FloodGroup): Line {
  const who: Line = g.scope === "all" ? ["every process together (scope all)"] : [shown(g.comm), ` (pid ${g.pid}, uid ${g.uid})`];
  const name: Line = g.scope === "call" ? [" asking for ", shown(g.name)] : [" asking for any name"];
  return [...who, ...name, `: ${plural(g.calls, "call")}, `, g.errno === null ? "failed" : shown(g.errno), `, ${span(g.first, g.last)}, in ${plural(g.records, "aggregate record")}`];
}

function list<T>(heading: string, c: Capped<T>, line: (v: T) => Line, none: string, more: (n: number) => string, lead: Line[] = []): Section {
  const items = c.items.map(line);
  if (c.more) items.push([more(c.more)]);
  return { heading, level: 3, paragraphs: items.length ? lead : [[none]], items };
}

const andMore = (query: string) => (n: number) => `and ${n} more: dmrec query ${query}`;

export function reportDocument(f: ReportFacts, opts: { filtered: boolean }): ReportDocument {
  // A set of 720 files is not a title: beyond TITLE_FILES, the first and a count.
  const named = f.captures.length > TITLE_FILES ? f.captures.slice(0, 1) : f.captures;
  const files: Line = [];
  named.forEach((c, i) => files.push(i ? ", " : "", shown(c.file)));
  if (named.length < f.captures.length) files.push(` and ${plural(f.captures.length - 1, "other file")}`);
  const damaged = f.damaged.length > 0;
  const sections: Section[] = [];

  sections.push({
    heading: "Evidence",
    level: 2,
    paragraphs: [],
    items: [...evidenceLines(f.captures), ...problemLines(f)],
  });

  const range = f.first === null || f.last === null ? "no calls" : `calls ${span(f.first, f.last)}`;
  sections.push({
    heading: "Host and recording",
    level: 2,
    timeline: true,
    paragraphs: [],
    items: [
      ...hostLines(f.captures),
      [range],
      [`${plural(f.calls, "call")}: ${plural(f.events, "individual event")}, ${f.aggregated} aggregated; ${f.calls - f.failed} succeeded, ${f.failed} failed; ${f.losses.calls} lost`],
      ...(opts.filtered ? [["only the calls that match the filters given are counted"]] : []),
    ],
  });

  sections.push({ heading: "Calls that matter", level: 2, paragraphs: [], items: [] });
  sections.push(list(`Successful unloads (${f.unloads.items.length + f.unloads.more})`, f.unloads, unloadLine, "None.", andMore("--result ok")));
  sections.push(list(`Forced unloads (${f.forced.items.length + f.forced.more})`, f.forced, unloadLine, "None.", andMore("--forced")));
  const unknown = f.toctouUnknown ? [[`${plural(f.toctouUnknown, "call")} had a name read fail, so no verdict was possible.`]] : [];
  const toctou = list(`Name changed during the call: TOCTOU (${f.toctou.items.length + f.toctou.more})`, f.toctou, toctouLine, "None: every name read agreed.", andMore("--toctou"));
  toctou.paragraphs.push(...unknown);
  sections.push(toctou);
  sections.push(
    list(`Calls without CAP_SYS_MODULE (${f.unprivilegedCalls})`, f.unprivileged, unprivilegedLine, "None.", (n) => `and ${n} more processes: dmrec stats --by process`, [
      ["The kernel refuses these (EPERM); a flood of them is how a local user tries to blind a recorder. Below, the processes of their individual events; their aggregated calls are under Floods."],
    ]),
  );
  sections.push(
    list(`One name asked for again and again, not loaded (ENOENT ${HIDDEN_MIN_CALLS} times or more)`, f.hidden, hiddenLine, "None.", (n) => `and ${n} more names: dmrec stats --by module,errno --result ENOENT`, [
      ["A module hidden from lsmod and /proc/modules is still asked for by name; so are typos."],
    ]),
  );
  sections.push(
    list(`Floods, summarised by the kernel side (${f.aggregated} calls)`, f.floods, floodLine, "None: every call is an individual event.", (n) => `and ${n} more: dmrec query --result failed`, [
      ["Past its budget, the kernel side counts failing calls instead of reporting each; none of them is lost."],
    ]),
  );

  const l = f.losses;
  const lossItems: Line[] = l.calls
    ? [[{ strong: `${plural(l.calls, "call")} lost` }, ` (the kernel side saw them but could not report them: ${Object.entries(l.byReason).map(([r, n]) => `${r} ${n}`).join(", ")}), noticed ${span(l.first!, l.last!)}`]]
    : [["No calls lost: every call the kernel side saw is an event or in an aggregate."]];
  const clockItems: Line[] = f.clockSteps.items.map((c) => [`the wall clock stepped by ${nsToDuration(abs(c.boot_to_wall_ns - c.old_boot_to_wall_ns))} ${c.boot_to_wall_ns > c.old_boot_to_wall_ns ? "forward" : "back"} at ${time(c.ts_ns)}; times after it use the new clock`]);
  if (f.clockSteps.more) clockItems.push([`and ${f.clockSteps.more} more clock steps`]);
  if (!clockItems.length) clockItems.push(["The wall clock did not step while recording."]);
  const damageItems: Line[] = f.damaged.map((d) => [{ strong: "damaged: " }, shown(d.message), "; the figures above cover what comes before"]);
  if (f.groupsFull) damageItems.push([`more than ${MAX_GROUPS} distinct processes or names: those past it are in the counts, not in the lists`]);
  if (!damageItems.length) damageItems.push(["Every file was read to its end."]);
  sections.push({ heading: "Losses, clock steps and damage", level: 2, paragraphs: [], items: [...lossItems, ...clockItems, ...damageItems] });

  const verdictText = f.verdict === "ok" ? "the evidence is intact" : `the evidence is ${VERDICT_WORDS[f.verdict]}`;
  const unanchored = f.captures.filter((c) => c.signature !== "valid").length;
  const authText = f.captures.length === 0 ? "" : unanchored === 0 ? "; authenticated" : `; ${unanchored === f.captures.length ? "not" : `${unanchored} of ${f.captures.length} files not`} authenticated, see Evidence`;
  return {
    title: ["dmrec report: ", ...files],
    verdict: [{ strong: `Verdict: ${f.verdict.toUpperCase().replaceAll("_", " ")}` }, `: ${verdictText}${authText}.`],
    alarming: f.verdict !== "ok" || damaged,
    sections,
  };
}

const abs = (n: bigint) => (n < 0n ? -n : n);
/** Files named in the title, at most. */
const TITLE_FILES = 3;
