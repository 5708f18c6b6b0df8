// The forward-secure key chain of a version 2 capture (docs/FORMAT.md,
// "Forward-secure signatures"). Every segment is signed by its own Ed25519
// key, which also vouches for the next one; a key's private half is used
// once and then wiped. Whoever takes the host later finds only keys that
// nothing already written trusts, so they can forge nothing closed before.
// node:crypto only, so that Deno can verify too.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify } from "node:crypto";
import { concat } from "../bytes.ts";

/** Names the construction in the header; a verifier refuses any other. */
export const CHAIN_SCHEME = "dmrec-fs1";

/** Domain separation: no signature of one kind can pass for another. */
const SEGMENT_TAG = "dmrec-fs1 segment\0";
const SEAL_TAG = "dmrec-fs1 seal\0";
const ENDORSE_TAG = "dmrec-fs1 first key\0";

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

// DER framing of a raw Ed25519 key (RFC 8410): PKCS#8 and SPKI prefixes.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

const utf8 = new TextEncoder();

/** SHA-256 of the raw 32-byte public key, lowercase hex: what `record` prints and `verify --pin` takes. */
export function keyFingerprint(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex");
}

/** What segment i's key signs: its chain hash and the key that signs segment i+1. */
export function segmentMessage(chainHash: Uint8Array, nextKey: Uint8Array): Uint8Array {
  return concat([utf8.encode(SEGMENT_TAG), chainHash, nextKey]);
}

/** What the last key signs at a clean close: the seal's hash, and the next file's first key (or nothing). */
export function sealMessage(sealHash: Uint8Array, nextFileKey: Uint8Array | null): Uint8Array {
  return concat([utf8.encode(SEAL_TAG), sealHash, nextFileKey ?? new Uint8Array(0)]);
}

/** What a long-term key signs to vouch for a file's first key, bound to the set and the file's place in it. */
export function endorsementMessage(setId: string, fileIndex: number, firstKey: Uint8Array): Uint8Array {
  const index = new Uint8Array(4);
  new DataView(index.buffer).setUint32(0, fileIndex);
  return concat([utf8.encode(ENDORSE_TAG), utf8.encode(setId), new Uint8Array([0]), index, firstKey]);
}

/** Whether `signature` is `publicKey`'s Ed25519 signature of `message`. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(concat([SPKI_PREFIX, publicKey])), format: "der", type: "spki" });
    return verify(null, message, key, signature);
  } catch {
    // Not a point on the curve: no signature verifies with it.
    return false;
  }
}

/**
 * One link of the chain: a key pair made from a fresh random seed. `sign`
 * may be called once; it wipes the seed. The runtime's own copy of the key
 * goes with its garbage collection: what an attacker who reads the process's
 * memory later finds is up to the runtime, what is in the file is not.
 */
export class ChainKey {
  readonly publicKey: Uint8Array;
  private seed: Uint8Array | null;

  /** `seed`: 32 bytes that must never be known to anyone else; default random (fixtures pin theirs). */
  constructor(seed?: Uint8Array) {
    if (seed !== undefined && seed.length !== 32) throw new RangeError(`a chain key's seed is 32 bytes, got ${seed.length}`);
    this.seed = seed ? new Uint8Array(seed) : new Uint8Array(randomBytes(32));
    const der = concat([PKCS8_PREFIX, this.seed]);
    const pub = createPublicKey(createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }));
    der.fill(0);
    const spki = new Uint8Array(pub.export({ format: "der", type: "spki" }));
    this.publicKey = spki.slice(SPKI_PREFIX.length);
  }

  get used(): boolean {
    return this.seed === null;
  }

  /** Destroys the private half unused: a file closed without its seal, or a key no file came to use. */
  discard(): void {
    this.seed?.fill(0);
    this.seed = null;
  }

  /** Signs `message` and destroys the private half. */
  sign(message: Uint8Array): Uint8Array {
    const seed = this.seed;
    if (!seed) throw new Error("a chain key signs once");
    this.seed = null;
    const der = Buffer.from(concat([PKCS8_PREFIX, seed]));
    seed.fill(0);
    try {
      return new Uint8Array(sign(null, message, createPrivateKey({ key: der, format: "der", type: "pkcs8" })));
    } finally {
      der.fill(0);
    }
  }
}
