// What vouches for each version 2 file's first key (docs/FORMAT.md,
// "Forward-secure signatures"): a fingerprint given to --pin, the --pubkey's
// endorsement in the header, or the authentic seal of the file before it in
// its rotation set. A key chain that nothing vouches for proves only that one
// writer wrote the whole file: whoever controls the host could have written
// another. Decided once every file has been verified on its own.
import type { KeyObject } from "node:crypto";
import { bytesEqual } from "../bytes.ts";
import { endorsementMessage, verifySignature } from "../capture/keychain.ts";
import { fingerprint, rawPublicKey } from "../keys.ts";
import { type FileAuth, type FileVerification, type VerifyOptions, type VerifyProblem, worstOf } from "./kinds.ts";
import { formatNs } from "./text.ts";

function addProblem(f: FileVerification, kind: VerifyProblem["kind"], text: string): void {
  f.problems.push({ kind, file: f.file, segment: null, offset: null, message: `${f.file}: ${text}` });
  f.kind = worstOf(f.problems.map((p) => p.kind));
}

/** Whether the given long-term key endorsed the first key; a problem when the endorsement is there but not by it. */
function endorsed(f: FileVerification, auth: FileAuth, publicKey: KeyObject): boolean {
  const e = auth.endorsement;
  if (e === null || auth.firstKey === null) return false;
  const given = fingerprint(publicKey);
  const { id, file_index } = f.header!.set;
  if (e.fingerprint !== given) {
    addProblem(f, "bad_signature", `its first key is endorsed by long-term key ${e.fingerprint}, not by the given key ${given}`);
  } else if (!verifySignature(rawPublicKey(publicKey), endorsementMessage(id, file_index, auth.firstKey), e.signature)) {
    addProblem(f, "bad_signature", `the endorsement of its first key does not verify with the given key ${given}`);
  } else {
    return true;
  }
  return false;
}

/**
 * Anchors the files of one set, given in set order, and states how far each
 * file is authenticated. The first file given of a set, or one after a gap,
 * has no previous file to vouch for it.
 */
export function anchorSet(files: FileVerification[], opts: VerifyOptions): void {
  const pins = new Set(opts.pins ?? []);
  const required = pins.size > 0 || opts.publicKey !== undefined;
  const byIndex = new Map<number, FileVerification>();
  for (const f of files) {
    const index = f.header!.set.file_index;
    const before = byIndex.get(index - 1) ?? null;
    if (!byIndex.has(index)) byIndex.set(index, f);
    const auth = f.auth;
    if (!auth) {
      if (f.header && pins.size > 0) addProblem(f, "unsigned", "a version 1 capture has no key chain, so no pin can vouch for it");
      continue;
    }
    if (auth.fingerprint === null) continue;
    const problems = f.problems.length;
    // The file before is heard even when this one is pinned: a seal naming another key is a contradiction to report.
    const linked = linkToPrevious(f, auth, before);
    if (pins.has(auth.fingerprint)) auth.anchor = "pin";
    else if (opts.publicKey && endorsed(f, auth, opts.publicKey)) auth.anchor = "endorsement";
    else if (linked) auth.anchor = "previous file";
    if (auth.anchor === null && required && f.problems.length === problems) {
      if (pins.size === 0 && auth.endorsement === null) addProblem(f, "unsigned", "its key chain is not endorsed by a long-term key (a public key was given)");
      else addProblem(f, "bad_signature", `its first key ${auth.fingerprint} is not pinned, and nothing else given vouches for it`);
    }
    f.signature = f.problems.some((p) => p.kind === "bad_signature") ? "invalid" : auth.anchor === null ? "not_checked" : auth.seal ? "valid" : "partial";
    f.notes.push(authNote(f, auth, before));
  }
  const last = files.at(-1);
  if (last?.auth?.seal && last.auth.nextFileKey !== null) {
    const next = last.header!.set.file_index + 1;
    last.notes.push(`${last.file}: its seal names the first key of file ${next} of its set, which was not given: the recording went on after it`);
  }
}

/**
 * Whether the file before vouches for this one: its authentic seal names
 * this file's first key, and something vouches for it in turn (a file that
 * nothing vouches for lends no more than that). A seal that names another
 * key, or none, is a problem.
 */
function linkToPrevious(f: FileVerification, auth: FileAuth, prev: FileVerification | null): boolean {
  const index = f.header!.set.file_index;
  if (prev === null || !prev.auth?.seal) return false;
  const next = prev.auth.nextFileKey;
  if (next !== null && bytesEqual(next, auth.firstKey!)) return prev.auth.anchor !== null;
  // "Authentic" only when something vouches for that file: else one of the two is the impostor.
  const seal = prev.auth.anchor === null ? "signed seal" : "authentic seal";
  addProblem(
    f,
    "bad_signature",
    next === null
      ? `${prev.file} (file ${index - 1}) says in its ${seal} that the recording ended with it: nothing vouches for this file`
      : `its first key is not the one the ${seal} of ${prev.file} (file ${index - 1}) names for the next file: ${prev.auth.anchor === null ? "one of the two" : "it"} is not the file that followed`,
  );
  return false;
}

function authNote(f: FileVerification, auth: FileAuth, prev: FileVerification | null): string {
  const fp = auth.fingerprint!;
  const from =
    auth.anchor === "pin"
      ? `from its pinned first key ${fp}`
      : auth.anchor === "endorsement"
        ? `from first key ${fp}, endorsed by long-term key ${auth.endorsement!.fingerprint}`
        : auth.anchor === "previous file"
          ? `from first key ${fp}, named by the seal of ${prev!.file}`
          : `from first key ${fp}; nothing given vouches for that key (--pin it, as record printed it, or give --pubkey)`;
  const upTo = auth.throughNs === null ? "" : ` (up to ${formatNs(auth.throughNs)})`;
  const what = auth.seal
    ? "every segment and the seal"
    : auth.through === 0
      ? "no segment"
      : auth.through === f.segments
        ? `${f.segments === 1 ? "its one segment" : `all ${f.segments} segments`}${upTo}, but no seal`
        : `segments 1 to ${auth.through} of ${f.segments}${upTo}, not what follows`;
  return `${f.file}: authenticated: ${what}, by the key chain ${from}`;
}
