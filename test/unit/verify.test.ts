// Integrity: the hash chain, the index, the seal and its signature, rotation
// sets (src/verify/), what info reports (src/info.ts) and the keys
// (src/keys.ts). Every tampered file is made by frame surgery on a real file
// written by CaptureWriter.
import { afterAll, describe, expect, test } from "bun:test";
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encode as cborgEncode } from "cborg";
import { sha256 } from "../../src/capture/chain.ts";
import { encodeItem, encodeSealHash, encodeSegmentHash, encodeMetaInfo } from "../../src/capture/encode_checked.ts";
import { decodeMeta } from "../../src/capture/items.ts";
import { ChainKey, endorsementMessage, keyFingerprint } from "../../src/capture/keychain.ts";
import { CaptureWriter, nextCaptureSet } from "../../src/capture/writer.ts";
import { skippableFrame } from "../../src/capture/zstd_frames.ts";
import { DamagedInputError, InputError } from "../../src/errors.ts";
import type { CaptureHeader, CaptureSet, DmrecEvent, LossRecord, SealInfo, SegmentInfo, SegmentItem } from "../../src/event.ts";
import { infoText } from "../../src/commands/info.ts";
import { captureInfo } from "../../src/info.ts";
import { fingerprint, generateKeyPair, loadPrivateKey, loadPublicKey, rawPublicKey } from "../../src/keys.ts";
import { zstdCompress } from "../../src/runtime.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import { type FileVerification, VERIFY_KINDS, type VerifyKind, worstKind, worstOf } from "../../src/verify/kinds.ts";
import { verifyCaptures } from "../../src/verify/sets.ts";
import { formatNs, reportLines } from "../../src/verify/text.ts";
import {
  anatomy,
  concat,
  FIXED_NOW,
  header,
  loss,
  rawCapture,
  ROOT,
  run,
  sampleAggregates,
  sampleEvents,
  SET_ID,
  slice,
  tempDir,
  TEST_FIRST_KEY,
  valueAt,
  writeCapture,
} from "../support/captures.ts";
import { makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-verify-");
afterAll(temp.cleanup);
const tmp = temp.path;

const keyA = generateKeyPairSync("ed25519");
const keyB = generateKeyPairSync("ed25519");
const fpA = fingerprint(keyA.publicKey);
const fpB = fingerprint(keyB.publicKey);

/** 12 events and a loss record in 5 segments of 3 items (the last holds one). */
const ITEMS: (DmrecEvent | LossRecord)[] = [...sampleEvents(12).map((e, i) => ({ ...e, ts_ns: 1764118674000000000n + BigInt(i) })), loss];

function original(opts: { signKey?: KeyObject } = {}) {
  const path = tmp("orig.cbor.zst");
  writeCapture(path, ITEMS, { segmentEvents: 3, ...opts });
  const bytes = new Uint8Array(readFileSync(path));
  return { path, bytes, parts: anatomy(bytes) };
}
const unsigned = original();
const signed = original({ signKey: keyA.privateKey });

/** What `key` signs to endorse the first key of a file of writeCapture's (Ed25519 signatures are deterministic). */
const endorsementBy = (key: KeyObject) => new Uint8Array(sign(null, endorsementMessage(SET_ID, 1, TEST_FIRST_KEY), key));

/** Writes bytes to a file and verifies it. */
const tamperedPath = tmp("tampered.cbor.zst");
function verifyBytes(bytes: Uint8Array, publicKey?: KeyObject, path = tamperedPath): FileVerification {
  writeFileSync(path, bytes);
  return verifyCapture(path, { publicKey });
}

function flipped(bytes: Uint8Array, at: number, bit = 0x01): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[at]! ^= bit;
  return copy;
}

const kinds = (v: FileVerification) => v.problems.map((p) => p.kind);
const messages = (v: FileVerification) => v.problems.map((p) => p.message);

/** The header frame of a version 1 file with `header`'s contents: no key chain, as a version 1 writer wrote it. */
function version1Header(): Uint8Array {
  const { signing: _signing, ...rest } = header;
  return zstdCompress(cborgEncode({ ...rest, version: 1 }));
}

/**
 * The file rebuilt with changed index entries, data frames and seal and
 * every hash recomputed, as a forger without the keys could: the trailers
 * and the seal keep the signatures and keys they had, which no longer sign
 * what they stand next to. `encode` writes the info maps (another writer's
 * encoder, say). `version: 1` rebuilds a version 1 file of an unsigned one
 * (its header without a key chain, trailers and seal without signatures),
 * as a version 1 writer wrote it: nothing in it is signed, so it is no
 * forgery.
 */
function rechained(
  file: { bytes: Uint8Array; parts: ReturnType<typeof anatomy> },
  change: {
    segment?: (info: SegmentInfo, i: number) => object;
    data?: (i: number) => Uint8Array | undefined;
    seal?: (info: SealInfo) => object;
    encode?: (info: object) => Uint8Array;
    version?: 1;
  },
): Uint8Array {
  const { bytes, parts } = file;
  const version = change.version ?? 2;
  const encode = change.encode ?? ((info: object) => encodeMetaInfo(info as SegmentInfo | SealInfo));
  const head = version === 1 ? version1Header() : slice(bytes, parts.header);
  let h = sha256(head);
  const out: Uint8Array[] = [head];
  for (const [i, { data, trailer }] of parts.segments.entries()) {
    const meta = decodeMeta(slice(bytes, trailer).subarray(8));
    if (meta.type !== "segment") throw new Error("not a trailer");
    const infoRaw = encode(change.segment ? change.segment(meta.info, i) : meta.info);
    const frame = change.data?.(i) ?? slice(bytes, data);
    h = sha256(h, frame, infoRaw);
    out.push(frame, skippableFrame(concat([infoRaw, encodeSegmentHash({ hash: h, next_key: meta.nextKey, signature: meta.signature }, version)])));
  }
  const seal = decodeMeta(slice(bytes, parts.seal!).subarray(8));
  if (seal.type !== "seal") throw new Error("not a seal");
  if (version === 1 && seal.info.signed_by !== null) throw new Error("a version 1 file is rebuilt from an unsigned one");
  const sealed = { ...seal.info, final_hash: h };
  const sealRaw = encode(change.seal ? change.seal(sealed) : sealed);
  const signature = version === 1 ? null : seal.signature;
  out.push(skippableFrame(concat([sealRaw, encodeSealHash({ hash: sha256(h, sealRaw), signature, next_file_key: seal.nextFileKey }, version)])));
  return concat(out);
}

/** A trailer rebuilt with a changed index entry, keeping its stored hash (or `rehash`'s), its next key and its signature. */
function trailerWith(bytes: Uint8Array, trailer: { offset: number; length: number }, change: (info: SegmentInfo) => SegmentInfo, rehash?: (infoRaw: Uint8Array) => Uint8Array) {
  const meta = decodeMeta(slice(bytes, trailer).subarray(8));
  if (meta.type !== "segment") throw new Error("not a trailer");
  const infoRaw = encodeMetaInfo(change(meta.info));
  return skippableFrame(concat([infoRaw, encodeSegmentHash({ hash: rehash ? rehash(infoRaw) : meta.hash, next_key: meta.nextKey, signature: meta.signature }, 2)]));
}

/** Where the value of `key` ("hash", "signature", "next_key") of a trailer's or the seal's second item is in the file: [start, end), its CBOR head included. */
function secondItemValue(bytes: Uint8Array, frame: { offset: number; length: number }, key: string): { start: number; end: number } {
  const payload = slice(bytes, frame).subarray(8);
  const meta = decodeMeta(payload);
  if (meta.type === "unknown") throw new Error("not a trailer or seal");
  const { start, end } = valueAt(payload, key, meta.infoRaw.length);
  return { start: frame.offset + 8 + start, end: frame.offset + 8 + end };
}

/** The offset in the file of a byte of the seal's closed_ns (an 8-byte integer). */
function closedNsByte(bytes: Uint8Array, seal: { offset: number; length: number }): number {
  const meta = decodeMeta(slice(bytes, seal).subarray(8));
  if (meta.type !== "seal") throw new Error("not a seal");
  return seal.offset + 8 + meta.infoRaw.indexOf(0x1b, Buffer.from(meta.infoRaw).indexOf("closed_ns")) + 8;
}

/** What verify notes of every version 1 file. */
const version1Note = (file: string) =>
  `${file}: a version 1 capture: its segments are not signed (at most its seal is), so whoever controlled the host could have rewritten it`;

/** The fingerprint of the first chain key of every file writeCapture writes (`header`'s). */
const fpFirst = keyFingerprint(TEST_FIRST_KEY);
const vouchedForByNothing = `; nothing given vouches for that key (--pin it, as record printed it, or give --pubkey)`;

describe("an intact capture", () => {
  test("unsigned, without a key: ok, and what was checked is listed (its key chain holds, nothing vouches for its first key)", () => {
    const v = verifyCapture(unsigned.path);
    expect(v).toMatchObject({ kind: "ok", problems: [], sealed: true, signature: "not_checked", signedBy: null, segments: 5 });
    expect(v.auth).toEqual({
      firstKey: TEST_FIRST_KEY,
      fingerprint: fpFirst,
      endorsement: null,
      through: 5,
      throughNs: 1764118674000000011n,
      seal: true,
      nextFileKey: null,
      anchor: null,
    });
    expect(v.intact).toEqual({
      segments: 5,
      events: 12,
      losses: 1,
      lostCalls: 17,
      aggregates: 0,
      aggregatedCalls: 0,
      clockSteps: 0,
      firstTsNs: 1764118674000000000n,
      lastTsNs: 1764118674000000011n,
      endOffset: unsigned.parts.seal!.offset,
    });
    expect(v.header).toEqual(header);
    const note = `${unsigned.path}: authenticated: every segment and the seal, by the key chain from first key ${fpFirst}${vouchedForByNothing}`;
    expect(v.notes).toEqual([note]);
    expect(reportLines(verifyCaptures([unsigned.path]))).toEqual([
      `${unsigned.path}: OK (5 segments, 12 events, 1 loss record (17 calls lost), 2025-11-26T00:57:54.000000000Z to 2025-11-26T00:57:54.000000011Z, sealed, signed (its first key not vouched for))`,
      note,
    ]);
  });

  test("unsigned, its first key pinned: ok, authenticated; another pin: bad_signature", () => {
    const v = verifyCapture(unsigned.path, { pins: [fpFirst] });
    expect(v).toMatchObject({ kind: "ok", problems: [], signature: "valid", auth: { anchor: "pin", seal: true, through: 5 } });
    expect(v.notes).toEqual([`${unsigned.path}: authenticated: every segment and the seal, by the key chain from its pinned first key ${fpFirst}`]);
    expect(reportLines(verifyCaptures([unsigned.path], { pins: [fpFirst] }))[0]).toEndWith(", sealed, authenticated)");
    const other = keyFingerprint(new ChainKey().publicKey);
    const w = verifyCapture(unsigned.path, { pins: [other] });
    expect(w).toMatchObject({ kind: "bad_signature", signature: "invalid", auth: { anchor: null } });
    expect(messages(w)).toEqual([`${unsigned.path}: its first key ${fpFirst} is not pinned, and nothing else given vouches for it`]);
  });

  test("signed, verified with its key: ok, authenticated from the first key it endorsed", () => {
    const v = verifyCapture(signed.path, { publicKey: keyA.publicKey });
    expect(v).toMatchObject({ kind: "ok", problems: [], signature: "valid", signedBy: fpA, auth: { anchor: "endorsement", seal: true, through: 5 } });
    expect(v.auth!.endorsement).toEqual({ fingerprint: fpA, signature: endorsementBy(keyA.privateKey) });
    expect(v.notes).toEqual([`${signed.path}: authenticated: every segment and the seal, by the key chain from first key ${fpFirst}, endorsed by long-term key ${fpA}`]);
  });

  test("signed, verified without a key: ok, and it says nothing vouched for its first key", () => {
    const v = verifyCapture(signed.path);
    expect(v).toMatchObject({ kind: "ok", problems: [], signature: "not_checked", signedBy: fpA, auth: { anchor: null, seal: true } });
    expect(v.notes).toEqual([`${signed.path}: authenticated: every segment and the seal, by the key chain from first key ${fpFirst}${vouchedForByNothing}`]);
  });

  test("unsigned, verified with a key: unsigned", () => {
    const v = verifyCapture(unsigned.path, { publicKey: keyA.publicKey });
    expect(v).toMatchObject({ kind: "unsigned", signature: "not_checked" });
    expect(messages(v)).toEqual([`${unsigned.path}: its key chain is not endorsed by a long-term key (a public key was given)`]);
  });

  test("signed with one key, verified with another: bad_signature naming both keys", () => {
    const v = verifyCapture(signed.path, { publicKey: keyB.publicKey });
    expect(v).toMatchObject({ kind: "bad_signature", signature: "invalid" });
    expect(messages(v)).toEqual([`${signed.path}: its first key is endorsed by long-term key ${fpA}, not by the given key ${fpB}`]);
  });

  test("an empty capture verifies: its final hash is the header's", () => {
    const path = tmp();
    const w = writeCapture(path, []);
    const v = verifyCapture(path);
    expect(v.kind).toBe("ok");
    const bytes = readFileSync(path);
    expect(w.finalHash).toEqual(sha256(slice(bytes, anatomy(bytes).header)));
    expect(v.finalHash).toEqual(w.finalHash!);
  });

  test("the hash chain is the documented formula", () => {
    const { bytes, parts } = unsigned;
    let h = sha256(slice(bytes, parts.header));
    for (const { data, trailer } of parts.segments) {
      const meta = decodeMeta(slice(bytes, trailer).subarray(8));
      if (meta.type !== "segment") throw new Error("not a trailer");
      h = sha256(h, slice(bytes, data), meta.infoRaw);
      expect(meta.hash).toEqual(h);
    }
    const seal = decodeMeta(slice(bytes, parts.seal!).subarray(8));
    if (seal.type !== "seal") throw new Error("not a seal");
    expect(seal.info.final_hash).toEqual(h);
    expect(seal.hash).toEqual(sha256(h, seal.infoRaw));
    expect(seal.info).toMatchObject({ segments: 5, events: 12, losses: 1, lost_calls: 17, closed_ns: FIXED_NOW(), signed_by: null });
  });
});

describe("a version 1 capture: its seal signed by a long-term key, or not at all", () => {
  // Written by dmrec before the key chain, signed with test-key.pem; frozen, as no dmrec writes version 1 any more.
  const v1 = join(ROOT, "fixtures/v1-signed.cbor.zst");
  const bytes = new Uint8Array(readFileSync(v1));
  const seal = anatomy(bytes).seal!;
  const testKey = loadPublicKey(join(ROOT, "fixtures/test-key.pub.pem"));
  const fpTest = fingerprint(testKey);

  test("verified with its key: ok, signature valid, and noted as the weaker guarantee", () => {
    const v = verifyCapture(v1, { publicKey: testKey });
    expect(v).toMatchObject({ kind: "ok", problems: [], signature: "valid", signedBy: fpTest, auth: null, header: { version: 1, signing: null } });
    expect(v.notes).toEqual([version1Note(v1), `${v1}: signature valid (key ${fpTest})`]);
    expect(reportLines(verifyCaptures([v1], { publicKey: testKey }))[0]).toEndWith(", sealed, signature valid)");
  });

  test("verified without a key: ok, and it says the signature was not checked", () => {
    const v = verifyCapture(v1);
    expect(v).toMatchObject({ kind: "ok", problems: [], signature: "not_checked", signedBy: fpTest });
    expect(v.notes).toEqual([version1Note(v1), `${v1}: the seal is signed by key ${fpTest}; signature not checked (no public key given)`]);
  });

  test("verified with another key: bad_signature naming both keys; with a pin: unsigned", () => {
    const v = verifyCapture(v1, { publicKey: keyB.publicKey });
    expect(v).toMatchObject({ kind: "bad_signature", signature: "invalid" });
    expect(messages(v)).toEqual([`${v1}: the seal at byte ${seal.offset}: it is signed by key ${fpTest}, not by the given key ${fpB}`]);
    const pinned = verifyCapture(v1, { pins: [fpFirst] });
    expect(pinned.kind).toBe("unsigned");
    expect(messages(pinned)).toEqual([`${v1}: a version 1 capture has no key chain, so no pin can vouch for it`]);
  });

  test("unsigned, verified with a key: unsigned", () => {
    const out = rechained(unsigned, { version: 1 });
    const v = verifyBytes(out, keyA.publicKey);
    expect(v).toMatchObject({ kind: "unsigned", signature: "absent", auth: null });
    expect(messages(v)).toEqual([`${v.file}: the seal at byte ${anatomy(out).seal!.offset}: it is not signed (a public key was given)`]);
    expect(verifyBytes(out)).toMatchObject({ kind: "ok", problems: [], signature: "absent" });
  });

  test("a changed byte in its seal: modified, and the signature fails with the key", () => {
    const v = verifyBytes(flipped(bytes, closedNsByte(bytes, seal)), testKey);
    expect(kinds(v)).toEqual(["modified", "bad_signature"]);
    expect(messages(v)[1]).toBe(`${v.file}: the seal at byte ${seal.offset}: its signature does not verify with the given key ${fpTest}`);
  });

  test("a changed byte in its signature: bad_signature", () => {
    const v = verifyBytes(flipped(bytes, secondItemValue(bytes, seal, "signature").end - 5), testKey);
    expect(kinds(v)).toEqual(["bad_signature"]);
    expect(messages(v)).toEqual([`${v.file}: the seal at byte ${seal.offset}: its signature does not verify with the given key ${fpTest}`]);
  });
});

describe("a changed byte", () => {
  test("in the header frame (its checksum): modified at byte 0", () => {
    const h = unsigned.parts.header;
    const v = verifyBytes(flipped(unsigned.bytes, h.offset + h.length - 1));
    expect(v.kind).toBe("modified");
    expect(v.problems[0]).toMatchObject({ kind: "modified", offset: 0 });
    expect(v.problems[0]!.message).toMatch(/: header frame at byte 0: the frame is corrupt \(zstd: .*checksum.*\)$/);
  });

  test("a forged header (valid zstd, another hostname): segment 1 does not match its hash", () => {
    const forged = zstdCompress(encodeItem({ ...header, host: { ...header.host, hostname: "elsewhere" } }));
    const bytes = concat([forged, unsigned.bytes.subarray(unsigned.parts.header.length)]);
    const v = verifyBytes(bytes);
    const d = forged.length - unsigned.parts.header.length;
    expect(v.kind).toBe("modified");
    expect(messages(v)).toEqual([
      expect.stringMatching(
        new RegExp(`: segment 1 at byte ${forged.length}: does not match its hash: its data frame, its trailer at byte ${unsigned.parts.segments[0]!.trailer.offset + d}, or the header frame was changed$`),
      ),
    ]);
    expect(v.header?.host.hostname).toBe("elsewhere");
  });

  test("in a data frame: modified, naming the segment and its offset; the segments after it still verify", () => {
    const seg = unsigned.parts.segments[1]!.data;
    const v = verifyBytes(flipped(unsigned.bytes, seg.offset + Math.floor(seg.length / 2)));
    expect(kinds(v)).toEqual(["modified"]);
    expect(v.problems[0]).toMatchObject({ segment: 2, offset: seg.offset });
    expect(v.problems[0]!.message).toMatch(new RegExp(`: segment 2 at byte ${seg.offset}: does not match its hash: its data frame is corrupt \\(zstd: .*\\)$`));
    expect(v.intact.segments).toBe(1);
  });

  test("a forged data frame (valid zstd, one pid changed, same index entry): modified", () => {
    const { bytes, parts } = unsigned;
    const seg = parts.segments[1]!;
    const items = ITEMS.slice(3, 6).map((it, i) => (i === 0 ? { ...it, pid: 1 } : it));
    const forged = zstdCompress(concat(items.map((it) => encodeItem(it))));
    const out = concat([bytes.subarray(0, seg.data.offset), forged, bytes.subarray(seg.data.offset + seg.data.length)]);
    const v = verifyBytes(out);
    expect(kinds(v)).toEqual(["modified"]);
    expect(messages(v)[0]).toMatch(new RegExp(`: segment 2 at byte ${seg.data.offset}: does not match its hash: its data frame, its trailer at byte \\d+, or segment 1 was changed$`));
  });

  test("in a trailer's index entry: modified, and which entry disagrees with the data", () => {
    const { bytes, parts } = unsigned;
    const seg = parts.segments[2]!;
    const trailer = trailerWith(bytes, seg.trailer, (info) => ({ ...info, events: info.events + 1 }));
    const out = concat([slice(bytes, parts.header, seg.data), trailer, bytes.subarray(seg.trailer.offset + seg.trailer.length)]);
    const v = verifyBytes(out);
    expect(kinds(v)).toEqual(["modified"]);
    expect(messages(v)[0]).toMatch(new RegExp(`: segment 3 at byte ${seg.data.offset}: does not match its hash: its index entry says events 4, its data holds 3$`));
  });

  test("in a trailer's index number: modified, not taken for a reordering", () => {
    const { bytes, parts } = unsigned;
    const seg = parts.segments[2]!;
    const trailer = trailerWith(bytes, seg.trailer, (info) => ({ ...info, index: 2 }));
    const out = concat([slice(bytes, parts.header, seg.data), trailer, bytes.subarray(seg.trailer.offset + seg.trailer.length)]);
    const v = verifyBytes(out);
    expect(v.kind).toBe("modified");
    expect(messages(v)[0]).toBe(
      `${v.file}: segment 3 at byte ${seg.data.offset}: its trailer at byte ${seg.trailer.offset} says segment 2 where segment 3 belongs, and it does not match its hash`,
    );
  });

  test("an index entry rewritten with a recomputed chain after it (a forger without a key): verify still sees the lie", () => {
    // Segment 2's entry claims another module; every hash from there on is recomputed.
    const out = rechained(unsigned, { segment: (info, i) => (i === 1 ? { ...info, modules: [new TextEncoder().encode("innocent")] } : info) });
    const v = verifyBytes(out);
    expect(kinds(v)).toEqual(["modified"]);
    expect(messages(v)[0]).toMatch(/: segment 2 at byte \d+: its index entry lists a module name that none of its events has$/);
  });

  test("a data frame forged, its entry true, and every hash recomputed (a forger without a key): bad_signature, the chain stops there", () => {
    const { parts } = unsigned;
    const items = ITEMS.slice(3, 6).map((it, i) => (i === 0 ? { ...it, pid: 1 } : it));
    const forged = zstdCompress(concat(items.map((it) => encodeItem(it))));
    const out = rechained(unsigned, { data: (i) => (i === 1 ? forged : undefined) });
    const v = verifyBytes(out, keyA.publicKey);
    expect(kinds(v)).toEqual(["bad_signature", "unsigned"]);
    expect(messages(v)[0]).toBe(
      `${v.file}: segment 2 at byte ${parts.segments[1]!.data.offset}: its signature does not verify with the key segment 1 names: the segment was not written by this file's recorder`,
    );
    expect(v).toMatchObject({ signature: "invalid", auth: { through: 1, seal: false }, intact: { segments: 1 } });
    // The same forgery of the signed file, whose first key the given key vouches for.
    const s = verifyBytes(rechained(signed, { data: (i) => (i === 1 ? forged : undefined) }), keyA.publicKey);
    expect(kinds(s)).toEqual(["bad_signature"]);
    expect(s).toMatchObject({ signature: "invalid", auth: { anchor: "endorsement", through: 1, seal: false } });
  });

  test("a seal forged and its hash recomputed (a forger without a key): bad_signature", () => {
    const out = rechained(signed, { seal: (info) => ({ ...info, closed_ns: info.closed_ns + 1n }) });
    const v = verifyBytes(out, keyA.publicKey);
    expect(kinds(v)).toEqual(["bad_signature"]);
    expect(messages(v)).toEqual([
      `${v.file}: the seal at byte ${signed.parts.seal!.offset}: its signature does not verify with the key segment 5 names: the seal was not written by this file's recorder`,
    ]);
    expect(v).toMatchObject({ signature: "invalid", auth: { through: 5, seal: false } });
  });

  test("in a trailer's stored hash: modified, and the message says it is the stored hash", () => {
    const { bytes, parts } = unsigned;
    const t = parts.segments[1]!.trailer;
    const v = verifyBytes(flipped(bytes, secondItemValue(bytes, t, "hash").end - 1));
    expect(kinds(v)).toEqual(["modified"]);
    expect(messages(v)).toEqual([
      `${v.file}: segment 2 at byte ${parts.segments[1]!.data.offset}: does not match its hash: the hash in its trailer at byte ${t.offset} was changed`,
    ]);
  });

  test("in a trailer's signature or next key: bad_signature, and only what came before is authenticated", () => {
    const { bytes, parts } = signed;
    const { data, trailer } = parts.segments[1]!;
    for (const key of ["signature", "next_key"]) {
      const v = verifyBytes(flipped(bytes, secondItemValue(bytes, trailer, key).end - 1), keyA.publicKey);
      expect([key, kinds(v)]).toEqual([key, ["bad_signature"]]);
      expect(messages(v)).toEqual([
        `${v.file}: segment 2 at byte ${data.offset}: its signature does not verify with the key segment 1 names: the segment was not written by this file's recorder`,
      ]);
      expect(v).toMatchObject({ signature: "invalid", auth: { anchor: "endorsement", through: 1, seal: false } });
    }
    // Segment 1's signature, checked with the header's first key.
    const v = verifyBytes(flipped(bytes, secondItemValue(bytes, parts.segments[0]!.trailer, "signature").end - 1));
    expect(kinds(v)).toEqual(["bad_signature"]);
    expect(messages(v)[0]).toStartWith(`${v.file}: segment 1 at byte ${parts.segments[0]!.data.offset}: its signature does not verify with `);
    expect(messages(v)[0]).toEndWith(": the segment was not written by this file's recorder");
    expect(v.auth).toMatchObject({ through: 0, seal: false });
  });

  test("in the seal's counts: modified at the seal's offset", () => {
    const { bytes, parts } = unsigned;
    const seal = decodeMeta(slice(bytes, parts.seal!).subarray(8));
    if (seal.type !== "seal") throw new Error("not a seal");
    const raw = encodeMetaInfo({ ...seal.info, events: 11 });
    const out = concat([
      bytes.subarray(0, parts.seal!.offset),
      skippableFrame(concat([raw, encodeSealHash({ hash: seal.hash, signature: seal.signature, next_file_key: seal.nextFileKey }, 2)])),
    ]);
    const v = verifyBytes(out);
    const at = `the seal at byte ${parts.seal!.offset}`;
    expect(messages(v)).toEqual([`${v.file}: ${at}: it does not match its hash: the seal was changed`, `${v.file}: ${at}: it says events 11, the segments hold 12`]);
    expect(v.kind).toBe("modified");
  });

  test("in a signed seal: modified, and the seal is not authenticated, the segments are", () => {
    const { bytes, parts } = signed;
    const seal = parts.seal!;
    // closed_ns is covered by the seal's hash and by the signature.
    const v = verifyBytes(flipped(bytes, closedNsByte(bytes, seal)), keyA.publicKey);
    expect(kinds(v)).toEqual(["modified"]);
    expect(messages(v)).toEqual([`${v.file}: the seal at byte ${seal.offset}: it does not match its hash: the seal was changed`]);
    expect(v).toMatchObject({ signature: "partial", auth: { anchor: "endorsement", through: 5, seal: false } });
    expect(v.notes).toEqual([
      `${v.file}: authenticated: all 5 segments (up to 2025-11-26T00:57:54.000000011Z), but no seal, by the key chain from first key ${fpFirst}, endorsed by long-term key ${fpA}`,
    ]);
  });

  test("in a signature: bad_signature", () => {
    const { bytes, parts } = signed;
    const v = verifyBytes(flipped(bytes, secondItemValue(bytes, parts.seal!, "signature").end - 5), keyA.publicKey);
    expect(kinds(v)).toEqual(["bad_signature"]);
    expect(messages(v)).toEqual([
      `${v.file}: the seal at byte ${parts.seal!.offset}: its signature does not verify with the key segment 5 names: the seal was not written by this file's recorder`,
    ]);
    expect(v).toMatchObject({ signature: "invalid", auth: { through: 5, seal: false } });
  });

  test("anywhere: every byte of a signed file, and of an unsigned file's seal, one bit each, is detected", () => {
    for (const signKey of [keyA.privateKey, undefined]) {
      const path = tmp("small.cbor.zst");
      writeCapture(path, [...sampleEvents(4), loss], { segmentEvents: 2, signKey });
      const bytes = new Uint8Array(readFileSync(path));
      for (let pos = signKey ? 0 : anatomy(bytes).seal!.offset; pos < bytes.length; pos++) {
        const bit = [0x01, 0x20, 0x80, 0x04][pos % 4]!;
        const v = verifyBytes(flipped(bytes, pos, bit), keyA.publicKey);
        if (v.kind === "ok" || v.kind === "unsigned") throw new Error(`flip of bit ${bit} at byte ${pos} not detected`);
      }
    }
  }, 60_000);

  test("bytes appended after the seal: modified", () => {
    const v = verifyBytes(concat([unsigned.bytes, zstdCompress(encodeItem(makeEvent()))]));
    expect(messages(v)).toEqual([`${v.file}: byte ${unsigned.bytes.length}: a frame after the seal (not covered by it)`]);
  });

  test("a foreign skippable frame inserted: modified, not covered by the chain", () => {
    const { bytes, parts } = unsigned;
    const at = parts.segments[0]!.trailer;
    const out = concat([bytes.subarray(0, at.offset + at.length), skippableFrame(new Uint8Array(4), 0x184d2a50), bytes.subarray(at.offset + at.length)]);
    const v = verifyBytes(out);
    expect(messages(v)).toEqual([`${v.file}: byte ${at.offset + at.length}: a skippable frame with magic 0x184d2a50: not part of a dmrec capture, not covered by the hash chain`]);
  });
});

describe("aggregates", () => {
  // 4 events and 3 aggregates in 3 segments; segment 2 holds aggregates only.
  const aggregates = sampleAggregates().slice(0, 3);
  const items: SegmentItem[] = [...sampleEvents(2), aggregates[0]!, aggregates[1]!, aggregates[2]!, loss, ...sampleEvents(2)];
  const path = tmp("aggregates.cbor.zst");
  writeCapture(path, items, { segmentEvents: 3 });
  const file = { bytes: new Uint8Array(readFileSync(path)), parts: anatomy(new Uint8Array(readFileSync(path))) };
  const calls = aggregates.reduce((n, a) => n + a.count, 0);

  test("are checked and counted like the other items", () => {
    const v = verifyCapture(path);
    expect(v.kind).toBe("ok");
    expect(v.intact).toMatchObject({ segments: 3, events: 4, aggregates: 3, aggregatedCalls: calls, losses: 1, lostCalls: 17 });
    expect(reportLines(verifyCaptures([path]))[0]).toMatch(new RegExp(`^${path}: OK \\(3 segments, 4 events, 3 aggregates \\(${calls} calls\\), 1 loss record \\(17 calls lost\\), `));
  });

  test("a trailer that miscounts them, even with the chain recomputed: modified", () => {
    for (const [change, says] of [
      [(info: SegmentInfo) => ({ ...info, aggregates: info.aggregates - 1 }), `aggregates 1, its data holds 2`],
      [(info: SegmentInfo) => ({ ...info, aggregated_calls: info.aggregated_calls - 1 }), `calls aggregated ${aggregates[1]!.count + aggregates[2]!.count - 1}, its data holds`],
    ] as const) {
      const v = verifyBytes(rechained(file, { segment: (info, i) => (i === 1 ? change(info) : info) }));
      expect(kinds(v)).toEqual(["modified"]);
      expect(messages(v)[0]).toContain(`: segment 2 at byte ${file.parts.segments[1]!.data.offset}: its index entry says ${says}`);
    }
  });

  test("a seal that miscounts them: modified", () => {
    const v = verifyBytes(rechained(file, { seal: (info) => ({ ...info, aggregated_calls: info.aggregated_calls + 1 }) }));
    expect(messages(v)).toEqual([`${v.file}: the seal at byte ${file.parts.seal!.offset}: it says calls aggregated ${calls + 1}, the segments hold ${calls}`]);
    const w = verifyBytes(rechained(file, { seal: (info) => ({ ...info, aggregates: 2 }) }));
    expect(messages(w)).toEqual([`${w.file}: the seal at byte ${file.parts.seal!.offset}: it says aggregates 2, the segments hold 3`]);
  });

  test("a file written before aggregates (version 1, no such keys in trailers and seal) verifies; the keys' absence means 0, and must be true", () => {
    const withoutKeys = (info: object) => {
      const { aggregates: _a, aggregated_calls: _c, ...rest } = info as SegmentInfo;
      return cborgEncode(rest);
    };
    const old = verifyBytes(rechained(unsigned, { encode: withoutKeys, version: 1 }));
    expect(old).toMatchObject({ kind: "ok", problems: [], signature: "absent", auth: null, header: { version: 1, signing: null } });
    expect(old.notes).toEqual([version1Note(old.file)]);
    expect(old.intact).toMatchObject({ events: 12, aggregates: 0, aggregatedCalls: 0 });
    const rebuilt = rechained(file, { encode: withoutKeys, version: 1 });
    const lying = verifyBytes(rebuilt);
    const [seg1, seg2] = anatomy(rebuilt).segments;
    expect(messages(lying)).toEqual([
      `${lying.file}: segment 1 at byte ${seg1!.data.offset}: its index entry says aggregates 0, its data holds 1`,
      `${lying.file}: segment 2 at byte ${seg2!.data.offset}: its index entry says aggregates 0, its data holds 2`,
      `${lying.file}: the seal at byte ${anatomy(rebuilt).seal!.offset}: it says aggregates 0, the segments hold 3`,
    ]);
  });
});

describe("segments removed, duplicated, reordered", () => {
  const { bytes, parts } = unsigned;
  const seg = (i: number) => slice(bytes, parts.segments[i]!.data, parts.segments[i]!.trailer);
  const rebuild = (order: number[]) => concat([slice(bytes, parts.header), ...order.map(seg), slice(bytes, parts.seal!)]);
  const dataAt = (file: Uint8Array, n: number) => anatomy(file).segments[n]!.data.offset;

  test("a segment removed: reordered, naming the missing segment and where the gap is", () => {
    const out = rebuild([0, 2, 3, 4]);
    const v = verifyBytes(out);
    expect(v.kind).toBe("reordered");
    expect(messages(v)).toEqual([
      `${v.file}: segment 3 at byte ${dataAt(out, 1)}: it follows segment 1: segment 2 is missing or out of order`,
      `${v.file}: the seal at byte ${anatomy(out).seal!.offset}: it counts 5 segments, the file holds 4`,
    ]);
  });

  test("a segment duplicated: reordered, naming the copy", () => {
    const out = rebuild([0, 1, 1, 2, 3, 4]);
    const v = verifyBytes(out);
    expect(kinds(v)).toEqual(["reordered"]);
    expect(messages(v)).toEqual([`${v.file}: segment 2 at byte ${dataAt(out, 2)}: a copy of segment 2 (at byte ${dataAt(out, 1)})`]);
  });

  test("two segments swapped: reordered, both named", () => {
    const out = rebuild([0, 2, 1, 3, 4]);
    const v = verifyBytes(out);
    expect(kinds(v)).toEqual(["reordered", "reordered"]);
    expect(messages(v)).toEqual([
      `${v.file}: segment 3 at byte ${dataAt(out, 1)}: it follows segment 1: segment 2 is missing or out of order`,
      `${v.file}: segment 2 at byte ${dataAt(out, 2)}: out of order: it comes after segment 3`,
    ]);
  });

  test("the last segment removed, the seal kept: reordered by the seal's count", () => {
    const out = rebuild([0, 1, 2, 3]);
    const v = verifyBytes(out);
    expect(messages(v)).toEqual([`${v.file}: the seal at byte ${anatomy(out).seal!.offset}: it counts 5 segments, the file holds 4: segment 5 is missing`]);
    expect(v.kind).toBe("reordered");
  });

  test("a segment from another capture put in its place: modified", () => {
    const other = tmp();
    writeCapture(other, ITEMS.map((it) => ({ ...it, ts_ns: it.ts_ns + 1n })), { segmentEvents: 3 });
    const o = anatomy(new Uint8Array(readFileSync(other)));
    const foreign = slice(o.bytes, o.segments[1]!.data, o.segments[1]!.trailer);
    const out = concat([slice(bytes, parts.header), seg(0), foreign, seg(2), seg(3), seg(4), slice(bytes, parts.seal!)]);
    const v = verifyBytes(out);
    expect(v.kind).toBe("modified");
    expect(messages(v)[0]).toMatch(new RegExp(`: segment 2 at byte ${dataAt(out, 1)}: does not match its hash`));
  });

  test("a data frame without its trailer, and a trailer without its data frame: modified", () => {
    const s = parts.segments[1]!;
    const noTrailer = concat([bytes.subarray(0, s.trailer.offset), bytes.subarray(s.trailer.offset + s.trailer.length)]);
    expect(messages(verifyBytes(noTrailer))[0]).toMatch(new RegExp(`: segment 2 at byte ${s.data.offset}: its data frame has no trailer`));
    const noData = concat([bytes.subarray(0, s.data.offset), bytes.subarray(s.trailer.offset)]);
    const v = verifyBytes(noData);
    expect(v.kind).toBe("modified");
    expect(messages(v)[0]).toBe(`${v.file}: segment 2's trailer at byte ${s.data.offset}: it follows no data frame (the data frame was removed)`);
  });
});

describe("a truncated tail, a missing seal", () => {
  const { bytes, parts } = unsigned;
  const last = parts.segments[4]!;
  // Segment 5 holds the loss record alone.
  const intact4 = (end: number) => `intact: 4 segments, 12 events, 0 loss records, 2025-11-26T00:57:54.000000000Z to 2025-11-26T00:57:54.000000011Z, through byte ${end}`;
  const end4 = parts.segments[3]!.trailer.offset + parts.segments[3]!.trailer.length;

  test("cut in the middle of the last segment's data frame", () => {
    const v = verifyBytes(bytes.subarray(0, last.data.offset + 10));
    expect(v.kind).toBe("truncated");
    expect(messages(v)).toEqual([`${v.file}: segment 5 at byte ${last.data.offset}: the file ends within its data frame; ${intact4(end4)}`]);
    expect(v.intact.segments).toBe(4);
  });

  test("cut in the middle of a trailer, and right after a data frame", () => {
    let v = verifyBytes(bytes.subarray(0, last.trailer.offset + 20));
    expect(messages(v)).toEqual([`${v.file}: segment 5's trailer at byte ${last.trailer.offset}: the file ends within it; ${intact4(end4)}`]);
    expect(v.kind).toBe("truncated");
    v = verifyBytes(bytes.subarray(0, last.trailer.offset));
    expect(messages(v)).toEqual([`${v.file}: segment 5 at byte ${last.data.offset}: the file ends after its data frame, without its trailer; ${intact4(end4)}`]);
  });

  test("cut in the middle of the seal", () => {
    const v = verifyBytes(bytes.subarray(0, parts.seal!.offset + 30));
    expect(v.kind).toBe("truncated");
    expect(messages(v)[0]).toMatch(new RegExp(`: the seal at byte ${parts.seal!.offset}: the file ends within it; intact: 5 segments, 12 events`));
  });

  test("the seal removed (a recorder killed): unsealed, listing what is intact", () => {
    const v = verifyBytes(bytes.subarray(0, parts.seal!.offset));
    expect(v).toMatchObject({ kind: "unsealed", sealed: false });
    expect(messages(v)).toEqual([
      `${v.file}: no seal: the recorder did not close the file cleanly; intact: 5 segments, 12 events, 1 loss record (17 calls lost), 2025-11-26T00:57:54.000000000Z to 2025-11-26T00:57:54.000000011Z, through byte ${parts.seal!.offset}`,
    ]);
    // Its final hash is the last segment's: a set can still be checked across it.
    expect(v.finalHash).toEqual(verifyCapture(unsigned.path).finalHash!);
  });

  test("every cut: unsealed after a whole segment, truncated anywhere else", () => {
    // Whole segments end where the next data frame or the seal starts.
    const afterSegment = new Set([...parts.segments.map((s) => s.data.offset), parts.seal!.offset]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const v = verifyBytes(bytes.subarray(0, cut));
      const expected: VerifyKind = afterSegment.has(cut) ? "unsealed" : "truncated";
      if (v.kind !== expected) throw new Error(`cut at ${cut}: ${v.kind}, expected ${expected}: ${messages(v).join(" | ")}`);
    }
  });
});

describe("not a capture, unreadable", () => {
  test("kinds and messages", () => {
    const dir = tmp("dir");
    mkdirSync(dir);
    const random = tmp();
    writeFileSync(random, crypto.getRandomValues(new Uint8Array(1000)).map((b, i) => (i === 0 ? 0 : b)));
    const empty = tmp();
    writeFileSync(empty, "");
    const v3 = tmp();
    rawCapture(v3, [[{ ...header, version: 3 }]]);
    const text = tmp();
    writeFileSync(text, zstdCompress(new TextEncoder().encode("hello")));
    const report = verifyCaptures([tmp("missing"), dir, random, empty, v3, text]);
    expect(report.files.map((f) => [f.kind, f.problems.map((p) => p.message.slice(f.file.length + 2))])).toEqual([
      ["unreadable", ["no such file"]],
      ["unreadable", ["is a directory, not a capture"]],
      ["not_a_capture", ["not a dmrec capture (not a zstd frame (magic 0x" + Buffer.from(readFileSync(random).subarray(0, 4)).reverse().toString("hex") + "))"]],
      ["not_a_capture", ["empty file, not a capture"]],
      ["not_a_capture", ["capture format version 3 is not supported (this dmrec reads versions 1 and 2)"]],
      ["not_a_capture", [expect.stringMatching(/^not a dmrec capture \(not CBOR: /)]],
    ]);
    expect(report.kind).toBe("not_a_capture");
  });
});

describe("kinds", () => {
  test("worstKind: the most severe kind of files and sets", () => {
    expect(VERIFY_KINDS).toEqual(["ok", "unsigned", "unsealed", "truncated", "unreadable", "not_a_capture", "missing_file", "reordered", "bad_signature", "modified"]);
    expect(worstOf([])).toBe("ok");
    expect(worstOf(["unsealed", "modified", "truncated"])).toBe("modified");
    const f = (kind: VerifyKind) => ({ kind }) as FileVerification;
    const set = (k: VerifyKind[]) => ({ id: "x", files: [], notes: [], problems: k.map((kind) => ({ kind, message: "" })) }) as never;
    expect(worstKind({ files: [f("ok"), f("unsealed")], sets: [] })).toBe("unsealed");
    expect(worstKind({ files: [f("unsealed")], sets: [set(["missing_file"])] })).toBe("missing_file");
  });

  test("formatNs", () => {
    expect(formatNs(1764118674123456789n)).toBe("2025-11-26T00:57:54.123456789Z");
    expect(formatNs(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
    expect(formatNs(-(2n ** 63n))).toBe("1677-09-21T00:12:43.145224192Z");
    expect(formatNs(null)).toBe("-");
  });
});

describe("rotation sets", () => {
  /** Three files of one set, chained as the recorder chains them: each seal names the next file's first key. */
  function rotatedSet(signKey?: KeyObject) {
    const paths: string[] = [];
    let set: CaptureSet = { ...header.set, id: crypto.randomUUID() };
    let firstKey = new ChainKey();
    for (let i = 0; i < 3; i++) {
      const path = tmp(`set-${i + 1}.cbor.zst`);
      const w = CaptureWriter.create(path, { ...header, set }, { segmentEvents: 2, signKey, firstKey });
      for (const ev of sampleEvents(3)) w.write({ ...ev, ts_ns: BigInt(i * 10) + ev.ts_ns });
      const next = i < 2 ? new ChainKey() : null;
      const { finalHash } = w.close(next?.publicKey ?? null);
      set = nextCaptureSet(set, finalHash);
      paths.push(path);
      if (next) firstKey = next;
    }
    return paths;
  }

  test("three files, given in any order: ok", () => {
    const [a, b, c] = rotatedSet(keyA.privateKey);
    const report = verifyCaptures([c!, a!, b!], { publicKey: keyA.publicKey });
    expect(report.kind).toBe("ok");
    expect(report.sets).toHaveLength(1);
    expect(report.sets[0]!.files).toEqual([a!, b!, c!]);
    expect(report.sets[0]!.problems).toEqual([]);
  });

  test("the middle file removed: missing_file, naming the gap", () => {
    const [a, , c] = rotatedSet();
    const report = verifyCaptures([a!, c!]);
    expect(report.kind).toBe("missing_file");
    const id = readHeader(a!).set.id;
    expect(report.problems.map((p) => p.message)).toEqual([
      `${c}: file 2 is missing from set ${id}: it is file 3, the one before it given is ${a} (file 1)`,
    ]);
  });

  test("the middle file replaced by another with the right index: not the file the seal before named (bad_signature), and the chain breaks (missing_file)", () => {
    const [a, b, c] = rotatedSet();
    const h = readHeader(b!);
    const impostor = tmp("impostor.cbor.zst");
    writeCapture(impostor, sampleEvents(1), { header: h }); // same set, index and link, other contents, a key chain of its own
    const report = verifyCaptures([a!, impostor, c!]);
    expect(report.kind).toBe("bad_signature");
    expect(report.files.map((f) => f.kind)).toEqual(["ok", "bad_signature", "bad_signature"]);
    expect(report.problems.map((p) => [p.kind, p.message])).toEqual([
      ["bad_signature", `${impostor}: its first key is not the one the signed seal of ${a} (file 1) names for the next file: one of the two is not the file that followed`],
      ["bad_signature", `${c}: ${impostor} (file 2) says in its signed seal that the recording ended with it: nothing vouches for this file`],
      ["missing_file", `${c}: its prev_file_hash is not the final hash of ${impostor} (file 2): a file of set ${h.set.id} is missing or was replaced`],
    ]);
  });

  test("the first file's key pinned: the seals vouch for the files after it, one by one", () => {
    const [a, b, c] = rotatedSet();
    const first = keyFingerprint(readHeader(a!).signing!.first_key);
    const report = verifyCaptures([c!, a!, b!], { pins: [first] });
    expect(report.kind).toBe("ok");
    expect(report.files.map((f) => [f.signature, f.auth?.anchor])).toEqual([
      ["valid", "previous file"],
      ["valid", "pin"],
      ["valid", "previous file"],
    ]);
    const fp = (p: string) => keyFingerprint(readHeader(p).signing!.first_key);
    expect(report.files[0]!.notes).toEqual([`${c}: authenticated: every segment and the seal, by the key chain from first key ${fp(c!)}, named by the seal of ${b}`]);
    // Without file 1, nothing vouches for file 2, so nothing for file 3 either.
    const rest = verifyCaptures([b!, c!], { pins: [first] });
    expect(rest.kind).toBe("bad_signature");
    expect(rest.problems.map((p) => p.message)).toEqual([
      `${b}: its first key ${fp(b!)} is not pinned, and nothing else given vouches for it`,
      `${c}: its first key ${fp(c!)} is not pinned, and nothing else given vouches for it`,
    ]);
    expect(rest.files.map((f) => f.signature)).toEqual(["invalid", "invalid"]);
  });

  test("the first files rotated away: ok, and noted", () => {
    const [, b, c] = rotatedSet();
    const report = verifyCaptures([b!, c!]);
    expect(report.kind).toBe("ok");
    expect(report.sets[0]!.notes).toEqual([`set ${readHeader(b!).set.id}: file 1 was not given (rotated away, or not asked for); it starts at ${b}`]);
  });

  test("the same file twice is noted; files of different sets are checked apart", () => {
    const [a, b] = rotatedSet();
    const [x] = rotatedSet();
    const report = verifyCaptures([a!, b!, a!, x!]);
    expect(report.kind).toBe("ok");
    expect(report.sets.map((s) => s.files.length)).toEqual([3, 1]);
    expect(report.sets[0]!.notes).toEqual([`set ${readHeader(a!).set.id}: ${a} and ${a} are the same file (file 1)`]);
  });

  test("a file in the set that is itself modified: both problems, the worst kind wins", () => {
    const [a, b, c] = rotatedSet();
    const bytes = new Uint8Array(readFileSync(b!));
    const seg = anatomy(bytes).segments[0]!.data;
    bytes[seg.offset + seg.length - 1]! ^= 1;
    writeFileSync(b!, bytes);
    const report = verifyCaptures([a!, b!, c!]);
    expect(report.files.map((f) => f.kind)).toEqual(["ok", "modified", "ok"]);
    expect(report.kind).toBe("modified");
  });
});

function readHeader(path: string): CaptureHeader {
  const h = verifyCapture(path).header;
  if (!h) throw new Error(`${path}: no header`);
  return h;
}

describe("info", () => {
  test("aggregates and the header's budget, from the trailers or by scanning", () => {
    const path = tmp();
    const aggregates = sampleAggregates();
    const calls = aggregates.reduce((n, a) => n + a.count, 0);
    writeCapture(path, [...sampleEvents(3), ...aggregates, loss], { segmentEvents: 4 });
    const i = captureInfo(path);
    expect(i).toMatchObject({ events: 3, aggregates: aggregates.length, aggregatedCalls: calls, losses: 1, lostCalls: 17, index: "complete", warnings: [] });
    expect(i.header.budget).toEqual(header.budget);
    const bytes = new Uint8Array(readFileSync(path));
    const parts = anatomy(bytes);
    const bare = tmp();
    writeFileSync(bare, concat([slice(bytes, parts.header), ...parts.segments.map((s) => slice(bytes, s.data))]));
    expect(captureInfo(bare)).toMatchObject({ aggregates: aggregates.length, aggregatedCalls: calls, index: "none" });
    const seal = decodeMeta(slice(bytes, parts.seal!).subarray(8));
    if (seal.type !== "seal") throw new Error("not a seal");
    const raw = encodeMetaInfo({ ...seal.info, aggregates: 1 });
    const lying = tmp();
    writeFileSync(
      lying,
      concat([bytes.subarray(0, parts.seal!.offset), skippableFrame(concat([raw, encodeSealHash({ hash: seal.hash, signature: seal.signature, next_file_key: seal.nextFileKey }, 2)]))]),
    );
    expect(captureInfo(lying).warnings).toEqual([`the seal says aggregates 1, the segments hold ${aggregates.length}`]);
  });

  test("the text shows the budget when the header has one, and the aggregated calls beside the counts", () => {
    const flood = infoText(captureInfo(join(ROOT, "fixtures/flood.cbor.zst")));
    expect(flood).toContain(
      "\nbudget       per 1000 ms, failing calls recorded as events: 3 per process, errno and name, 8 per process, 64 in all (TOCTOU: 16 per process, 256 in all); the others aggregated\n",
    );
    expect(flood).toContain("\ncounts       5 events, 3 segments, 1 loss records (2 calls lost)\naggregated   291200 calls in 3 aggregate records\n");
    const path = tmp();
    writeCapture(path, [], { header: { ...header, budget: { ...header.budget!, key: 0 } } });
    expect(infoText(captureInfo(path))).toContain(": no limit per process, errno and name, 256 per process,");
    writeCapture(path, [], { header: { ...header, budget: null }, force: true });
    const none = infoText(captureInfo(path));
    expect(none).not.toContain("budget");
    expect(none).toContain("\naggregated   0 calls in 0 aggregate records\n");
  });

  test("a sealed, signed capture: header, counts, time range, seal, index", () => {
    const i = captureInfo(signed.path);
    expect(i).toMatchObject({
      file: signed.path,
      bytes: signed.bytes.length,
      hook: "raw-syscalls",
      host: header.host,
      set: header.set,
      segments: 5,
      events: 12,
      losses: 1,
      lostCalls: 17,
      aggregates: 0,
      aggregatedCalls: 0,
      clockSteps: 0,
      firstTsNs: 1764118674000000000n,
      lastTsNs: 1764118674000000011n,
      indexedSegments: 5,
      index: "complete",
      sealed: true,
      signed: true,
      signedBy: fpA,
      damage: null,
      warnings: [],
    });
    expect(i.seal).toMatchObject({ segments: 5, events: 12, closed_ns: FIXED_NOW() });
    expect(i.header).toEqual({ ...header, signing: { ...header.signing!, endorsement: { fingerprint: fpA, signature: endorsementBy(keyA.privateKey) } } });
  });

  test("it reads the trailers without decompressing the segments", () => {
    const bytes = new Uint8Array(unsigned.bytes);
    for (const { data } of unsigned.parts.segments) bytes.fill(0x55, data.offset + 12, data.offset + data.length - 4); // corrupt, boundaries intact
    const path = tmp();
    writeFileSync(path, bytes);
    expect(captureInfo(path)).toMatchObject({ events: 12, damage: null, index: "complete" });
    expect(verifyCapture(path).kind).toBe("modified");
  });

  test("events an independent writer put in the header's own frame are counted", () => {
    const path = tmp();
    rawCapture(path, [[header, makeEvent({ pid: 1 }), loss], [makeEvent({ pid: 2 })]]);
    expect(captureInfo(path)).toMatchObject({ events: 2, losses: 1, lostCalls: loss.count, segments: 1, index: "none", damage: null });
  });

  test("unsealed, a cut trailer, no trailers at all: counts by scanning", () => {
    const { bytes, parts } = unsigned;
    const unsealedPath = tmp();
    writeFileSync(unsealedPath, bytes.subarray(0, parts.seal!.offset));
    expect(captureInfo(unsealedPath)).toMatchObject({ sealed: false, seal: null, signed: false, events: 12, index: "complete", damage: null });

    const cut = tmp();
    const t = parts.segments[4]!.trailer;
    writeFileSync(cut, bytes.subarray(0, t.offset + 5));
    expect(captureInfo(cut)).toMatchObject({
      segments: 5,
      events: 12,
      losses: 1,
      indexedSegments: 4,
      index: "partial",
      damage: { offset: t.offset, problem: "truncated segment trailer" },
    });

    const bare = tmp();
    writeFileSync(bare, concat([slice(bytes, parts.header), ...parts.segments.map((s) => slice(bytes, s.data))]));
    expect(captureInfo(bare)).toMatchObject({
      segments: 5,
      events: 12,
      losses: 1,
      lostCalls: 17,
      firstTsNs: 1764118674000000000n,
      lastTsNs: 1764118674000000011n,
      index: "none",
      sealed: false,
      damage: null,
    });
  });

  test("a lying index is reported as a warning against the seal", () => {
    const { bytes, parts } = unsigned;
    const seg = parts.segments[0]!;
    const out = concat([slice(bytes, parts.header, seg.data), trailerWith(bytes, seg.trailer, (i) => ({ ...i, events: 99 })), bytes.subarray(seg.trailer.offset + seg.trailer.length)]);
    const path = tmp();
    writeFileSync(path, out);
    expect(captureInfo(path).warnings).toEqual(["the seal says events 12, the segments hold 108"]);
  });

  test("not a capture, or a damaged header: the reader's errors", () => {
    const text = tmp();
    writeFileSync(text, "text");
    expect(() => captureInfo(text)).toThrow(InputError);
    const cut = tmp();
    writeFileSync(cut, unsigned.bytes.subarray(0, 20));
    expect(() => captureInfo(cut)).toThrow(DamagedInputError);
    expect(() => captureInfo(tmp("missing"))).toThrow(/no such file/);
  });
});

describe("keys", () => {
  const pair = generateKeyPair();
  const privPath = tmp("key.pem");
  const pubPath = tmp("key.pub.pem");
  writeFileSync(privPath, pair.privatePem);
  writeFileSync(pubPath, pair.publicPem);

  test("a generated pair loads, signs and verifies a capture", () => {
    expect(pair.privatePem).toStartWith("-----BEGIN PRIVATE KEY-----");
    expect(pair.publicPem).toStartWith("-----BEGIN PUBLIC KEY-----");
    const path = tmp();
    writeCapture(path, sampleEvents(2), { signKey: loadPrivateKey(privPath) });
    expect(verifyCapture(path, { publicKey: loadPublicKey(pubPath) }).kind).toBe("ok");
  });

  test("the fingerprint is the SHA-256 of the raw 32-byte key, as openssl computes it", () => {
    const pub = loadPublicKey(pubPath);
    const raw = rawPublicKey(pub);
    expect(raw.length).toBe(32);
    const jwk = pub.export({ format: "jwk" }) as { x: string };
    expect(Buffer.from(raw).toString("base64url")).toBe(jwk.x);
    expect(fingerprint(pub)).toBe(Buffer.from(sha256(raw)).toString("hex"));
    expect(fingerprint(loadPrivateKey(privPath))).toBe(fingerprint(pub));
    const der = run(["openssl", "pkey", "-pubin", "-in", pubPath, "-outform", "DER"]);
    expect(der.code).toBe(0);
    expect(Buffer.from(sha256(der.stdout.subarray(-32))).toString("hex")).toBe(fingerprint(pub));
  });

  test("openssl's own Ed25519 keys load", () => {
    const key = tmp("openssl.pem");
    const gen = run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key]);
    expect(gen.code).toBe(0);
    const pub = tmp("openssl.pub.pem");
    run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub]);
    expect(fingerprint(loadPrivateKey(key))).toBe(fingerprint(loadPublicKey(pub)));
  });

  test("clear InputErrors for anything else", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const rsaPriv = tmp("rsa.pem");
    writeFileSync(rsaPriv, rsa.privateKey.export({ type: "pkcs8", format: "pem" }));
    const rsaPub = tmp("rsa.pub.pem");
    writeFileSync(rsaPub, rsa.publicKey.export({ type: "spki", format: "pem" }));
    const garbage = tmp("garbage.pem");
    writeFileSync(garbage, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    const notPem = tmp("not.pem");
    writeFileSync(notPem, "hello");
    const dir = tmp("keydir");
    mkdirSync(dir);
    const cases: [() => unknown, RegExp][] = [
      [() => loadPrivateKey(tmp("none.pem")), /none\.pem: no such key file$/],
      [() => loadPrivateKey(dir), /is a directory, not a key file$/],
      [() => loadPrivateKey(notPem), /not a PEM key file \(no -----BEGIN line\)$/],
      [() => loadPrivateKey(pubPath), /is a public key; signing needs the private key \(PKCS#8 PEM\)$/],
      [() => loadPrivateKey(rsaPriv), /is not an Ed25519 key \(rsa key\); dmrec signs with Ed25519 only$/],
      [() => loadPrivateKey(garbage), /invalid private key \(.+\)$/],
      [() => loadPublicKey(privPath), /is a private key; give the public key \(SPKI PEM\) instead$/],
      [() => loadPublicKey(rsaPub), /is not an Ed25519 key \(rsa key\); dmrec verifies Ed25519 only$/],
      [() => loadPublicKey(notPem), /not a PEM key file/],
    ];
    for (const [load, pattern] of cases) {
      expect(load).toThrow(InputError);
      expect(load).toThrow(pattern);
    }
  });

  test("createPrivateKey/createPublicKey round trip of the PEM text", () => {
    expect(fingerprint(createPublicKey(pair.publicPem))).toBe(fingerprint(createPrivateKey(pair.privatePem)));
  });
});
