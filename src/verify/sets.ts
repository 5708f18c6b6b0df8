// Verifying several captures (docs/FORMAT.md, "Rotation sets"): each file on
// its own, then the files of each rotation set together, grouped by set.id
// and ordered by set.file_index: what vouches for each file's key chain
// (anchors.ts), and the chain of prev_file_hash links.
import { bytesEqual } from "../bytes.ts";
import type { CaptureSet } from "../event.ts";
import { asBytes, escapeBytes } from "../query/escape.ts";
import { anchorSet } from "./anchors.ts";
import { checkCapture } from "./file.ts";
import { type FileVerification, type SetVerification, type VerifyKind, type VerifyOptions, type VerifyProblem, type VerifyReport, worstKind } from "./kinds.ts";

/**
 * Verifies each file, then the files of each rotation set together: a gap
 * in the file indexes, or a prev_file_hash that is not the previous file's
 * final hash, is a `missing_file`. Files before the first one given (deleted
 * by --max-files) are noted, not counted as missing. Files are read one at a
 * time.
 */
export function verifyCaptures(paths: string[], opts: VerifyOptions = {}): VerifyReport {
  const files = paths.map((p) => checkCapture(p, opts));
  const groups = new Map<string, FileVerification[]>();
  for (const f of files) {
    if (!f.header) continue;
    const g = groups.get(f.header.set.id);
    if (g) g.push(f);
    else groups.set(f.header.set.id, [f]);
  }
  const bySetOrder = (a: FileVerification, b: FileVerification) => a.header!.set.file_index - b.header!.set.file_index;
  for (const members of groups.values()) anchorSet([...members].sort(bySetOrder), opts);
  const sets = [...groups].map(([id, members]) => checkSet(id, members));
  const problems = [...files.flatMap((f) => f.problems), ...sets.flatMap((s) => s.problems)];
  const report = { files, sets, problems, kind: "ok" as VerifyKind };
  report.kind = worstKind(report);
  return report;
}

function checkSet(id: string, members: FileVerification[]): SetVerification {
  const setOf = (f: FileVerification): CaptureSet => f.header!.set;
  const sorted = [...members].sort((a, b) => setOf(a).file_index - setOf(b).file_index);
  const problems: VerifyProblem[] = [];
  const notes: string[] = [];
  // The id is the file's text: escaped, it cannot break or fake a line.
  const set = `set ${escapeBytes(asBytes(id))}`;
  const problem = (f: FileVerification, text: string) =>
    problems.push({ kind: "missing_file", file: f.file, segment: null, offset: null, message: `${f.file}: ${text}` });
  const first = sorted[0]!;
  const firstIndex = setOf(first).file_index;
  if (firstIndex > 1) {
    notes.push(
      `${set}: ${firstIndex === 2 ? "file 1 was" : `files 1 to ${firstIndex - 1} were`} not given (rotated away, or not asked for); it starts at ${first.file}`,
    );
  } else if (setOf(first).prev_file_hash !== null) {
    problem(first, `file 1 of ${set} names a previous file`);
  }
  const kept: FileVerification[] = [first];
  for (const f of sorted.slice(1)) {
    const prev = kept[kept.length - 1]!;
    const pi = setOf(prev).file_index;
    const fi = setOf(f).file_index;
    if (fi === pi) {
      if (prev.finalHash !== null && f.finalHash !== null && bytesEqual(prev.finalHash, f.finalHash)) {
        notes.push(`${set}: ${f.file} and ${prev.file} are the same file (file ${fi})`);
      } else {
        problem(f, `it and ${prev.file} both claim to be file ${fi} of ${set}`);
      }
      continue;
    }
    kept.push(f);
    if (fi !== pi + 1) {
      const missing = fi === pi + 2 ? `file ${pi + 1} is` : `files ${pi + 1} to ${fi - 1} are`;
      problem(f, `${missing} missing from ${set}: it is file ${fi}, the one before it given is ${prev.file} (file ${pi})`);
      continue;
    }
    const link = setOf(f).prev_file_hash;
    if (link === null) problem(f, `file ${fi} of ${set} names no previous file`);
    else if (prev.finalHash === null) {
      notes.push(`${set}: ${prev.file}'s final hash is unknown, so the link to ${f.file} is not checked`);
    } else if (!bytesEqual(link, prev.finalHash)) {
      problem(f, `its prev_file_hash is not the final hash of ${prev.file} (file ${pi}): a file of ${set} is missing or was replaced`);
    }
  }
  return { id, files: sorted.map((f) => f.file), problems, notes };
}
