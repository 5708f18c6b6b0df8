// What `dmrec verify` can find and reports, as types: the kinds of problem
// in order of severity, each with its exit code (errors.ts holds the codes),
// and the shape of a report (what --json prints). No logic but the ordering.
import type { KeyObject } from "node:crypto";
import { ExitCode, type ExitCodeValue } from "../errors.ts";
import type { Counted } from "../capture/totals.ts";
import type { CaptureHeader, KeyEndorsement } from "../event.ts";

/**
 * What is wrong with a file or a set, least severe first (VERIFY_KINDS):
 * - `ok`: everything checks out
 * - `unsigned`: a public key or a pin was given, but nothing in the file is signed by a key they vouch for
 * - `unsealed`: no seal (the recorder did not close the file cleanly); what is intact is listed
 * - `truncated`: the file ends inside a frame, or a segment lacks its trailer at the end
 * - `unreadable`: the file cannot be opened or read
 * - `not_a_capture`: readable, but not a dmrec capture of a version this dmrec knows
 * - `missing_file`: the files of a rotation set do not form an unbroken chain
 * - `reordered`: a segment removed, duplicated or out of order
 * - `bad_signature`: a signature does not verify (a segment or seal not written by the file's recorder), or the file's key is not one a pin, the given key or the previous file vouches for
 * - `modified`: bytes changed, added or removed (a hash, an index entry or the seal disagrees)
 */
export type VerifyKind =
  | "ok"
  | "unsigned"
  | "unsealed"
  | "truncated"
  | "unreadable"
  | "not_a_capture"
  | "missing_file"
  | "reordered"
  | "bad_signature"
  | "modified";

/** Every kind, least severe first. */
export const VERIFY_KINDS: readonly VerifyKind[] = [
  "ok",
  "unsigned",
  "unsealed",
  "truncated",
  "unreadable",
  "not_a_capture",
  "missing_file",
  "reordered",
  "bad_signature",
  "modified",
];

/** The exit code of each verdict, the worst one of a run deciding. */
export const VERIFY_EXIT: Record<VerifyKind, ExitCodeValue> = {
  ok: ExitCode.ok,
  unreadable: ExitCode.badInput,
  not_a_capture: ExitCode.badInput,
  modified: ExitCode.modified,
  reordered: ExitCode.reordered,
  truncated: ExitCode.truncated,
  unsealed: ExitCode.unsealed,
  bad_signature: ExitCode.badSignature,
  unsigned: ExitCode.unsigned,
  missing_file: ExitCode.missingFile,
};

export interface VerifyOptions {
  /** long-term Ed25519 public key (node:crypto): version 2 files' first keys must be endorsed by it, version 1 seals signed with it */
  publicKey?: KeyObject;
  /** fingerprints of trusted first keys (what `record` printed): every file's key chain must start at one, or follow from the file before */
  pins?: string[];
  /** limits, as for readCapture (defaults: src/capture/limits.ts) */
  maxFrameBytes?: number;
  maxContentBytes?: number;
}

export interface VerifyProblem {
  kind: Exclude<VerifyKind, "ok">;
  file: string;
  /** the segment concerned (1-based, by its place in the file), when one is */
  segment: number | null;
  /** byte offset in the file where the problem is, when known */
  offset: number | null;
  /** one line naming file, segment and offset */
  message: string;
}

/**
 * How far a version 2 file's key chain reaches, and what vouches for its
 * first key. Authentic means written by the holder of the first key.
 */
export interface FileAuth {
  /** the header's first key (null when the header names none) and its fingerprint */
  firstKey: Uint8Array | null;
  fingerprint: string | null;
  endorsement: KeyEndorsement | null;
  /** the last segment authenticated, 0 for none: segments 1 to `through` are */
  through: number;
  /** the latest event time in the authenticated segments */
  throughNs: bigint | null;
  /** the seal is authentic too: the whole file is */
  seal: boolean;
  /** the next file's first key, named by an authentic seal */
  nextFileKey: Uint8Array | null;
  /** what vouches for the first key: a --pin, the --pubkey's endorsement, the authentic seal of the file before it in its set; null for nothing */
  anchor: "pin" | "endorsement" | "previous file" | null;
}

/** The segments verified before the first problem, counted as their index entries count them. */
export interface IntactPart extends Counted {
  /** offset just past the last verified segment (or the header) */
  endOffset: number;
}

export interface FileVerification {
  file: string;
  /** the most severe of the problems' kinds, `ok` without problems */
  kind: VerifyKind;
  problems: VerifyProblem[];
  /** facts worth showing that are not problems ("signature not checked: no public key given") */
  notes: string[];
  header: CaptureHeader | null;
  sealed: boolean;
  /**
   * version 1: the seal's signature, `valid`/`invalid` with the given key, `not_checked` without one;
   * version 2: `valid` when the key chain authenticates the whole file from an anchored first key,
   * `invalid` when a signature fails, `partial` when it authenticates a part (a crash), `not_checked`
   * when it holds but nothing vouches for the first key
   */
  signature: "valid" | "invalid" | "partial" | "not_checked" | "absent";
  /** version 2: the key chain; null for version 1 files and unreadable headers */
  auth: FileAuth | null;
  /** the seal's signed_by fingerprint */
  signedBy: string | null;
  /** the seal's final hash, or without a seal the last chain hash verified */
  finalHash: Uint8Array | null;
  /** segments in the file (whatever their state) */
  segments: number;
  intact: IntactPart;
}

export interface SetVerification {
  id: string;
  /** the files given, in set order (file_index) */
  files: string[];
  problems: VerifyProblem[];
  notes: string[];
}

export interface VerifyReport {
  files: FileVerification[];
  sets: SetVerification[];
  /** every problem, files' then sets' */
  problems: VerifyProblem[];
  /** worstKind(this) */
  kind: VerifyKind;
}

const severity = (k: VerifyKind) => VERIFY_KINDS.indexOf(k);

/** The most severe kind among these, `ok` for none. */
export function worstOf(kinds: Iterable<VerifyKind>): VerifyKind {
  let worst: VerifyKind = "ok";
  for (const k of kinds) if (severity(k) > severity(worst)) worst = k;
  return worst;
}

/** The most severe kind in a report: what the CLI maps to its exit code. */
export function worstKind(report: Pick<VerifyReport, "files" | "sets">): VerifyKind {
  return worstOf([...report.files.map((f) => f.kind), ...report.sets.flatMap((s) => s.problems.map((p) => p.kind))]);
}
