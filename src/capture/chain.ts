// The hash chain of docs/FORMAT.md ("Integrity"), in one place for the
// writer that builds it and the verifier that recomputes it:
//   h_0 = SHA-256(header frame)
//   h_i = SHA-256(h_(i-1) ‖ D_i ‖ I_i)      D_i the data frame, I_i its trailer's info item
//   seal hash = SHA-256(final_hash ‖ S)     S the seal's info item
// Every part is hashed as the bytes in the file, never re-encoded.
import { createHash } from "node:crypto";

/** SHA-256 of the concatenated parts. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** h_0, from the whole header frame. */
export function headerHash(headerFrame: Uint8Array): Uint8Array {
  return sha256(headerFrame);
}

/** h_i, from h_(i-1), the whole data frame and the exact bytes of its trailer's info item. */
export function segmentHash(previous: Uint8Array, dataFrame: Uint8Array, infoRaw: Uint8Array): Uint8Array {
  return sha256(previous, dataFrame, infoRaw);
}

/** The seal's hash, from the final hash and the exact bytes of the seal's info item. */
export function sealHash(finalHash: Uint8Array, sealInfoRaw: Uint8Array): Uint8Array {
  return sha256(finalHash, sealInfoRaw);
}
