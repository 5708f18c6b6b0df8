// Following a version 2 file's key chain (docs/FORMAT.md, "Forward-secure
// signatures"): from the header's first key, each segment that is intact and
// in its place must be signed by the key the one before it named, and the
// seal by the last. The chain stops at the first segment it cannot follow;
// what it reached is the authenticated part. Whether the first key itself is
// to be trusted (a pin, a long-term key, the previous file of the set) is
// decided with the set (anchors.ts).
import { bytesEqual } from "../bytes.ts";
import { InvalidItemError } from "../capture/cbor.ts";
import { encodeSealHash, encodeSegmentHash } from "../capture/encode_checked.ts";
import type { SealRecord, SegmentTrailer } from "../capture/items.ts";
import { CHAIN_SCHEME, keyFingerprint, sealMessage, segmentMessage, verifySignature } from "../capture/keychain.ts";
import type { CaptureHeader } from "../event.ts";
import { asBytes, escapeBytes } from "../query/escape.ts";
import type { FileAuth } from "./kinds.ts";
import type { FileReport, Place } from "./report.ts";

/**
 * Why the second item of a trailer or the seal is not byte for byte what a
 * writer of this version writes, or null: no byte of a file may lie outside
 * what the hashes and signatures cover (an extra key, a longer encoding).
 */
export function uncoveredBytes(record: SegmentTrailer | SealRecord, version: number): string | null {
  let canonical: Uint8Array;
  try {
    canonical =
      record.type === "segment"
        ? encodeSegmentHash({ hash: record.hash, next_key: record.nextKey, signature: record.signature }, version)
        : encodeSealHash({ hash: record.hash, signature: record.signature, next_file_key: record.nextFileKey }, version);
  } catch (e) {
    // A version 2 item without its signature: the key chain reports it.
    if (e instanceof InvalidItemError) return null;
    throw e;
  }
  if (bytesEqual(canonical, record.raw[1]!)) return null;
  const what = record.type === "segment" ? "its trailer's hash item" : "the seal's hash item";
  return `${what} is not as dmrec writes it (a key the format does not define, or a longer encoding): bytes no hash or signature covers`;
}

export class KeyChainCheck {
  /** the key that must have signed the next segment or the seal; null once the chain cannot be followed */
  private key: Uint8Array | null;
  /** where the key came from, for messages */
  private keyFrom = "the header's first key";
  private readonly auth: FileAuth;

  /** For a version 2 header; reports a header that names no usable chain. */
  constructor(
    private readonly r: FileReport,
    header: CaptureHeader,
    at: Place,
  ) {
    const signing = header.signing;
    const firstKey = signing?.first_key ?? null;
    this.auth = {
      firstKey,
      fingerprint: firstKey && keyFingerprint(firstKey),
      endorsement: signing?.endorsement ?? null,
      through: 0,
      throughNs: null,
      seal: false,
      nextFileKey: null,
      anchor: null,
    };
    this.key = firstKey;
    if (!signing) {
      r.problem("bad_signature", at, "a version 2 header without its key chain (every version 2 file is signed)");
      this.key = null;
    } else if (signing.scheme !== CHAIN_SCHEME) {
      r.problem("bad_signature", at, `unknown signing scheme ${escapeBytes(asBytes(signing.scheme))} (this dmrec knows ${CHAIN_SCHEME})`);
      this.key = null;
    }
    r.auth = this.auth;
  }

  /** The segment at `where` is intact and in its place: its signature must be the chain's next. */
  segment(trailer: SegmentTrailer, where: Place): void {
    const key = this.key;
    if (key === null) return;
    const { info, hash, nextKey, signature } = trailer;
    this.key = null;
    if (nextKey === null || signature === null) {
      this.r.problem("bad_signature", where, "its trailer is not signed (every segment of a version 2 file is)");
      return;
    }
    if (!verifySignature(key, segmentMessage(hash, nextKey), signature)) {
      this.r.problem("bad_signature", where, `its signature does not verify with ${this.keyFrom}: the segment was not written by this file's recorder`);
      return;
    }
    this.key = nextKey;
    this.keyFrom = `the key segment ${info.index} names`;
    this.auth.through = info.index;
    if (info.last_ts_ns !== null) this.auth.throughNs = info.last_ts_ns;
  }

  /** The chain cannot be followed past here (a segment changed, missing, moved or unreadable). */
  stop(): void {
    this.key = null;
  }

  /** The seal, whose hash is intact: the last key's signature. */
  seal(seal: SealRecord, at: Place): void {
    const key = this.key;
    if (key === null) return;
    this.key = null;
    if (seal.signature === null) {
      this.r.problem("bad_signature", at, "the seal is not signed (a version 2 seal is)");
      return;
    }
    if (!verifySignature(key, sealMessage(seal.hash, seal.nextFileKey), seal.signature)) {
      this.r.problem("bad_signature", at, `its signature does not verify with ${this.keyFrom}: the seal was not written by this file's recorder`);
      return;
    }
    this.auth.seal = true;
    this.auth.nextFileKey = seal.nextFileKey;
  }
}
