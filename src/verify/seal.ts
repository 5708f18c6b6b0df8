// The seal's checks (docs/FORMAT.md, "Seal", "Verifying a file" 3 and 4):
// its own hash, the number of segments and the final hash against what the
// file holds, the totals it claims, and its signature: in version 2 the key
// chain's last, in version 1 a long-term key's, checked when one is given.
import { verify as verifySignature } from "node:crypto";
import { bytesEqual } from "../bytes.ts";
import { sealHash } from "../capture/chain.ts";
import type { SealRecord } from "../capture/items.ts";
import type { Totals } from "../capture/totals.ts";
import { fingerprint } from "../keys.ts";
import type { VerifyOptions } from "./kinds.ts";
import type { FileReport } from "./report.ts";
import { type KeyChainCheck, uncoveredBytes } from "./signatures.ts";
import { plural } from "./text.ts";

/** Where the chain stood when the seal came. */
export interface ChainEnd {
  /** the possible last chain hashes (two after a mismatch); empty when unknown */
  heads: Uint8Array[];
  /** a segment was already found out of sequence */
  reordered: boolean;
  /** what the file's segments hold (or say they hold, where their data is unreadable) */
  totals: Totals;
  /** the header's format version, null when unknown */
  version: number | null;
  /** a version 2 file's key chain, as far as it reached */
  keys: KeyChainCheck | null;
}

export function checkSeal(r: FileReport, seal: SealRecord, offset: number, end: ChainEnd, opts: VerifyOptions): void {
  const { info, infoRaw } = seal;
  const at = { offset, at: `the seal at byte ${offset}` };
  r.sealed = true;
  r.finalHash = info.final_hash;
  r.signedBy = info.signed_by;
  const { totals } = end;

  let intact = bytesEqual(sealHash(info.final_hash, infoRaw), seal.hash);
  if (!intact) r.problem("modified", at, "it does not match its hash: the seal was changed");
  const uncovered = end.version === null ? null : uncoveredBytes(seal, end.version);
  if (uncovered) {
    r.problem("modified", at, uncovered);
    intact = false;
  }
  if (info.segments !== totals.segments) {
    intact = false;
    // With every segment in sequence, the ones missing are the last ones.
    const n = info.segments - totals.segments;
    const detail = end.reordered ? "" : n > 0 ? `: segment${n > 1 ? `s ${totals.segments + 1} to ${info.segments} are` : ` ${info.segments} is`} missing` : "";
    r.problem("reordered", at, `it counts ${plural(info.segments, "segment")}, the file holds ${totals.segments}${detail}`);
  } else if (end.heads.length > 0 && !end.heads.some((h) => bytesEqual(h, info.final_hash))) {
    intact = false;
    r.problem("modified", at, `its final hash does not match ${totals.segments === 0 ? "the header frame" : `segment ${totals.segments}`}'s`);
  } else {
    const [wrong] = totals.disagreements(info);
    if (wrong) {
      intact = false;
      r.problem("modified", at, `it says ${wrong[0]} ${String(wrong[1])}, the segments hold ${String(wrong[2])}`);
    }
  }
  if (end.version === null || end.version < 2) {
    checkSignature(r, seal, at, opts);
    return;
  }
  const endorsedBy = r.auth?.endorsement?.fingerprint ?? null;
  if (info.signed_by !== endorsedBy) {
    r.problem("modified", at, `it names ${info.signed_by === null ? "no long-term key" : `long-term key ${info.signed_by}`}, the header ${endorsedBy === null ? "none" : `key ${endorsedBy}`}`);
  }
  // Signed over what the file holds: only a seal that matches it can be authentic.
  if (intact) end.keys?.seal(seal, at);
  else end.keys?.stop();
}

function checkSignature(r: FileReport, seal: SealRecord, at: { offset: number; at: string }, opts: VerifyOptions): void {
  const { info, infoRaw, signature } = seal;
  if ((signature === null) !== (info.signed_by === null)) {
    r.problem("modified", at, signature ? "it has a signature but no signed_by" : "it names a signer but has no signature");
  }
  if (signature === null) {
    r.signature = "absent";
    if (opts.publicKey) r.problem("unsigned", at, "it is not signed (a public key was given)");
    return;
  }
  if (!opts.publicKey) {
    r.signature = "not_checked";
    r.notes.push(`${r.file}: the seal is signed by key ${info.signed_by}; signature not checked (no public key given)`);
    return;
  }
  const fp = fingerprint(opts.publicKey);
  let valid = false;
  try {
    valid = verifySignature(null, infoRaw, opts.publicKey, signature);
  } catch {
    valid = false;
  }
  r.signature = valid ? "valid" : "invalid";
  if (valid) {
    r.notes.push(`${r.file}: signature valid (key ${fp})`);
  } else if (info.signed_by !== fp) {
    r.problem("bad_signature", at, `it is signed by key ${info.signed_by}, not by the given key ${fp}`);
  } else {
    r.problem("bad_signature", at, `its signature does not verify with the given key ${fp}`);
  }
}
