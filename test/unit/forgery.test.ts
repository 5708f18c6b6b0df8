// Playing the intruder who became root and rewrites history (SPEC.md's second
// adversary) against version 2's forward-secure signatures: every forgery
// recomputes the public SHA-256 chain, as anyone can, and signs with every
// key it can get. Each must be caught with its own message; a genuine crash
// must still read as one; and a key stolen at segment k must not help to
// change anything before k.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { headerHash, sealHash, segmentHash, sha256 } from "../../src/capture/chain.ts";
import { encodeItem, encodeMetaInfo, encodeSealHash, encodeSegmentHash } from "../../src/capture/encode_checked.ts";
import { decodeMeta, type SealRecord, type SegmentTrailer } from "../../src/capture/items.ts";
import { ChainKey, keyFingerprint, sealMessage, segmentMessage } from "../../src/capture/keychain.ts";
import { CaptureWriter, nextCaptureSet } from "../../src/capture/writer.ts";
import type { CaptureHeader, CaptureSet, SealInfo, SegmentInfo, SegmentItem } from "../../src/event.ts";
import { generateKeyPairSync } from "node:crypto";
import { zstd, zstdCompress } from "../../src/runtime.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import type { FileVerification, VerifyOptions } from "../../src/verify/kinds.ts";
import { verifyCaptures } from "../../src/verify/sets.ts";
import { makeEvent } from "../support/events.ts";
import { anatomy, concat, FIXED_NOW, header, readAll, skippableFrame, slice, tempDir, withPair, withValue } from "../support/captures.ts";

const temp = tempDir("dmrec-forgery-");
afterAll(temp.cleanup);

const utf8 = new TextEncoder();
/** Seeds the test keeps, so that it can hand some of the recorder's keys to the attacker. */
const seedsOf = (label: string, n: number) => Array.from({ length: n }, (_, i) => sha256(utf8.encode(label), Uint8Array.of(i)));
const publicOf = (seed: Uint8Array) => new ChainKey(seed).publicKey;
const signWith = (seed: Uint8Array, message: Uint8Array) => new ChainKey(seed).sign(message);

const events = (n: number, from = 0): SegmentItem[] => Array.from({ length: n }, (_, i) => makeEvent({ pid: 1000 + from + i, ts_ns: 1764118674000000000n + BigInt(from + i) }));

/** A genuine capture of 4 segments of 3 events, its chain keys from `seeds` (5: one per segment, one for the seal). */
function genuine(name: string, seeds: Uint8Array[], opts: { set?: CaptureSet; firstKey?: Uint8Array; nextFileKey?: Uint8Array | null; seal?: boolean } = {}) {
  const path = temp.path(name);
  let i = 0;
  const w = CaptureWriter.create(path, { ...header, set: opts.set ?? header.set }, { nowNs: FIXED_NOW, segmentEvents: 3, newKey: () => new ChainKey(seeds[i++]!) });
  for (const item of events(12)) w.write(item);
  if (opts.seal === false) w.abandon();
  else w.close(opts.nextFileKey ?? null);
  return { path, bytes: new Uint8Array(readFileSync(path)) };
}

/** A capture taken apart: the header frame and item, each segment's data frame and trailer, the seal. */
function parts(bytes: Uint8Array) {
  const a = anatomy(bytes);
  const meta = (f: { offset: number; length: number }) => decodeMeta(slice(bytes, f).subarray(8));
  return {
    headerFrame: slice(bytes, a.header),
    header: readAllBytes(bytes)[0] as CaptureHeader,
    segments: a.segments.map((s) => ({ data: slice(bytes, s.data), trailer: meta(s.trailer) as SegmentTrailer })),
    seal: a.seal && (meta(a.seal) as SealRecord),
  };
}

function readAllBytes(bytes: Uint8Array) {
  const p = temp.path("read.cbor.zst");
  writeFileSync(p, bytes);
  return readAll(p).items;
}

/** How a forger signs segment i (1-based), whose recomputed chain hash is `hash`. */
type Signer = (i: number, hash: Uint8Array) => { nextKey: Uint8Array; signature: Uint8Array };
/** Keeps what the genuine trailer held: right for an untouched segment, wrong for a changed one. */
const keepSignatures =
  (p: ReturnType<typeof parts>): Signer =>
  (i) => ({ nextKey: p.segments[i - 1]!.trailer.nextKey!, signature: p.segments[i - 1]!.trailer.signature! });
/** Signs with the keys of these seeds: segment i with seeds[i-1], naming seeds[i]. */
const signWithSeeds =
  (seeds: Uint8Array[]): Signer =>
  (i, hash) => {
    const nextKey = publicOf(seeds[i]!);
    return { nextKey, signature: signWith(seeds[i - 1]!, segmentMessage(hash, nextKey)) };
  };

/**
 * A file from a header frame and segments' data frames and index entries,
 * the chain recomputed as anyone can, each segment signed by `sign`; sealed
 * when `seal` says with which seed's key, naming `nextFileKey`.
 */
function assemble(
  headerFrame: Uint8Array,
  segments: { data: Uint8Array; info: SegmentInfo }[],
  sign: Signer,
  seal: { seed: Uint8Array; info: SealInfo; nextFileKey?: Uint8Array | null } | null,
): Uint8Array {
  let h = headerHash(headerFrame);
  const out = [headerFrame];
  segments.forEach((s, n) => {
    const infoRaw = encodeMetaInfo(s.info);
    h = segmentHash(h, s.data, infoRaw);
    const { nextKey, signature } = sign(n + 1, h);
    out.push(s.data, skippableFrame(concat([infoRaw, encodeSegmentHash({ hash: h, next_key: nextKey, signature }, 2)])));
  });
  if (seal) {
    const sealRaw = encodeMetaInfo({ ...seal.info, final_hash: h });
    const sh = sealHash(h, sealRaw);
    const nextFileKey = seal.nextFileKey ?? null;
    const signature = signWith(seal.seed, sealMessage(sh, nextFileKey));
    out.push(skippableFrame(concat([sealRaw, encodeSealHash({ hash: sh, signature, next_file_key: nextFileKey }, 2)])));
  }
  return concat(out);
}

/** Segment i's data frame with its first event's pid changed: the intruder's edit. */
function edited(data: Uint8Array): Uint8Array {
  const content = new Uint8Array(zstd.decompress(data, 1 << 20));
  return zstdCompress(withValue(content, "pid", [0x19, 0x05, 0x39])); // 1337
}

function verifyBytes(bytes: Uint8Array, opts: VerifyOptions = {}): FileVerification {
  const p = temp.path("forged.cbor.zst");
  writeFileSync(p, bytes);
  return verifyCapture(p, opts);
}

const kinds = (v: FileVerification) => v.problems.map((p) => p.kind);
const messages = (v: FileVerification) => v.problems.map((p) => p.message.replace(/^[^:]*: /, "")).join("\n");

const SEEDS = seedsOf("genuine", 5);
const original = genuine("genuine.cbor.zst", SEEDS);
const P = parts(original.bytes);
const PIN = keyFingerprint(publicOf(SEEDS[0]!));
const infos = P.segments.map((s) => ({ data: s.data, info: s.trailer.info }));

describe("the genuine file", () => {
  test("is authenticated from end to end with its pin, and a crash of it is an authentic prefix", () => {
    const v = verifyCapture(original.path, { pins: [PIN] });
    expect([v.kind, v.signature, v.auth?.through, v.auth?.seal, v.auth?.anchor]).toEqual(["ok", "valid", 4, true, "pin"]);
    const crashed = genuine("crashed.cbor.zst", SEEDS, { seal: false });
    const c = verifyCapture(crashed.path, { pins: [PIN] });
    expect([c.kind, c.signature, c.auth?.through, c.auth?.seal]).toEqual(["unsealed", "partial", 4, false]);
    expect(c.notes.join("\n")).toMatch(/authenticated: all 4 segments \(up to [^)]+\), but no seal, by the key chain from its pinned first key/);
    // Cut inside segment 3, as kill -9 during a write leaves it.
    const a = anatomy(original.bytes);
    const torn = verifyBytes(original.bytes.subarray(0, a.segments[2]!.data.offset + 20), { pins: [PIN] });
    expect([torn.kind, torn.auth?.through]).toEqual(["truncated", 2]);
  });
});

describe("forgeries of one file", () => {
  test("an event edited, the chain recomputed, the seal dropped: bad_signature at that segment, never unsealed", () => {
    const forged = assemble(P.headerFrame, infos.map((s, i) => (i === 1 ? { ...s, data: edited(s.data) } : s)), keepSignatures(P), null);
    for (const opts of [{}, { pins: [PIN] }]) {
      const v = verifyBytes(forged, opts);
      expect(v.kind).toBe("bad_signature");
      expect(kinds(v)).not.toContain("unsealed");
      expect(messages(v)).toMatch(/^segment 2 at byte \d+: its signature does not verify with the key segment 1 names/m);
      expect(v.auth?.through).toBe(1);
    }
  });

  test("only the forged first segment kept: bad_signature, nothing authenticated", () => {
    const forged = assemble(P.headerFrame, [{ ...infos[0]!, data: edited(infos[0]!.data) }], keepSignatures(P), null);
    const v = verifyBytes(forged, { pins: [PIN] });
    expect([v.kind, v.auth?.through]).toEqual(["bad_signature", 0]);
    expect(messages(v)).toMatch(/^segment 1 at byte \d+: its signature does not verify with the header's first key/m);
  });

  test("re-signed from segment 1 with the forger's own keys: the header's first key does not sign them", () => {
    const mine = seedsOf("forger", 5);
    const forged = assemble(P.headerFrame, infos.map((s, i) => (i === 0 ? { ...s, data: edited(s.data) } : s)), signWithSeeds(mine), {
      seed: mine[4]!,
      info: P.seal!.info,
    });
    const v = verifyBytes(forged);
    expect([v.kind, v.auth?.through]).toEqual(["bad_signature", 0]);
  });

  test("a whole new chain under a new first key: only a pin (or the long-term key) tells it from the genuine file", () => {
    const mine = seedsOf("forger", 5);
    const fake: CaptureHeader = { ...P.header, signing: { scheme: "dmrec-fs1", first_key: publicOf(mine[0]!), endorsement: null } };
    const forged = assemble(zstdCompress(encodeItem(fake)), infos.map((s, i) => (i === 0 ? { ...s, data: edited(s.data) } : s)), signWithSeeds(mine), {
      seed: mine[4]!,
      info: P.seal!.info,
    });
    // Consistent in itself, so without an anchor it passes, and says nothing vouches for its key ...
    const alone = verifyBytes(forged);
    expect([alone.kind, alone.signature]).toEqual(["ok", "not_checked"]);
    expect(alone.notes.join("\n")).toMatch(/nothing given vouches for that key/);
    // ... and with the genuine pin it is refused.
    const pinned = verifyBytes(forged, { pins: [PIN] });
    expect(pinned.kind).toBe("bad_signature");
    expect(messages(pinned)).toMatch(/its first key [0-9a-f]{64} is not pinned/);
  });

  test("a long-term key's endorsement cannot be moved to another first key", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const path = temp.path("endorsed.cbor.zst");
    let n = 0;
    const w = CaptureWriter.create(path, header, { nowNs: FIXED_NOW, segmentEvents: 3, signKey: privateKey, newKey: () => new ChainKey(SEEDS[n++]!) });
    for (const item of events(6)) w.write(item);
    w.close();
    expect(verifyCapture(path, { publicKey })).toMatchObject({ kind: "ok", signature: "valid", auth: { anchor: "endorsement" } });
    const real = parts(new Uint8Array(readFileSync(path)));
    const mine = seedsOf("forger", 3);
    const moved: CaptureHeader = { ...real.header, signing: { ...real.header.signing!, first_key: publicOf(mine[0]!) } };
    const forged = assemble(zstdCompress(encodeItem(moved)), real.segments.map((s) => ({ data: s.data, info: s.trailer.info })), signWithSeeds(mine), {
      seed: mine[2]!,
      info: real.seal!.info,
    });
    const v = verifyBytes(forged, { publicKey });
    expect(v.kind).toBe("bad_signature");
    expect(messages(v)).toMatch(/the endorsement of its first key does not verify with the given key/);
  });

  test("segments spliced in from another capture, the chain recomputed: bad_signature where they start", () => {
    const other = parts(genuine("other.cbor.zst", seedsOf("other", 5)).bytes);
    const spliced = [infos[0]!, { data: other.segments[1]!.data, info: { ...other.segments[1]!.trailer.info, index: 2 } }, ...infos.slice(2)];
    const keepOthers: Signer = (i, h) => (i === 2 ? { nextKey: other.segments[1]!.trailer.nextKey!, signature: other.segments[1]!.trailer.signature! } : keepSignatures(P)(i, h));
    const v = verifyBytes(assemble(P.headerFrame, spliced, keepOthers, null), { pins: [PIN] });
    expect([v.kind, v.auth?.through]).toEqual(["bad_signature", 1]);
    expect(messages(v)).toMatch(/^segment 2 at byte \d+: its signature does not verify/m);
  });

  test("the seal re-made over changed totals, signed with a key the forger made: bad_signature on the seal", () => {
    const mine = seedsOf("forger", 1);
    const forged = assemble(P.headerFrame, infos, keepSignatures(P), { seed: mine[0]!, info: { ...P.seal!.info, closed_ns: P.seal!.info.closed_ns + 1n } });
    const v = verifyBytes(forged, { pins: [PIN] });
    expect(v.kind).toBe("bad_signature");
    expect(messages(v)).toMatch(/^the seal at byte \d+: its signature does not verify with the key segment 4 names/m);
    expect([v.auth?.through, v.auth?.seal]).toEqual([4, false]);
  });

  test("the seal moved: junk in front of it, or before the last segment", () => {
    const a = anatomy(original.bytes);
    const seal = slice(original.bytes, a.seal!);
    const body = original.bytes.subarray(0, a.seal!.offset);
    const junk = verifyBytes(concat([body, new Uint8Array(8).fill(0x41), seal]), { pins: [PIN] });
    expect(junk.kind).toBe("modified");
    const last = a.segments[3]!;
    const early = verifyBytes(concat([original.bytes.subarray(0, last.data.offset), seal, slice(original.bytes, last.data, last.trailer)]), { pins: [PIN] });
    expect(early.kind).toBe("modified");
    expect(early.auth?.seal).toBe(false);
  });

  test("bytes no signature covers: an extra key in a trailer's or the seal's hash map, a hash re-encoded longer", () => {
    const a = anatomy(original.bytes);
    const t = a.segments[0]!.trailer;
    const payload = slice(original.bytes, t).subarray(8);
    const m = decodeMeta(payload) as SegmentTrailer;
    const second = m.raw[1]!;
    const extra = skippableFrame(concat([m.raw[0]!, withPair(second, [0x61, 0x78], [0x01])]));
    // "hash": h2 58 20 ... re-encoded with a two-byte length head (59 00 20).
    const at = second.indexOf(0x58);
    const longer = skippableFrame(concat([m.raw[0]!, second.subarray(0, at), Uint8Array.of(0x59, 0x00, 0x20), second.subarray(at + 2)]));
    for (const trailer of [extra, longer]) {
      const v = verifyBytes(concat([original.bytes.subarray(0, t.offset), trailer, original.bytes.subarray(t.offset + t.length)]), { pins: [PIN] });
      expect(v.kind).toBe("modified");
      expect(messages(v)).toMatch(/segment 1's trailer at byte \d+: its trailer's hash item is not as dmrec writes it/);
    }
    const s = decodeMeta(slice(original.bytes, a.seal!).subarray(8)) as SealRecord;
    const sealExtra = skippableFrame(concat([s.raw[0]!, withPair(s.raw[1]!, [0x61, 0x78], [0x01])]));
    const v = verifyBytes(concat([original.bytes.subarray(0, a.seal!.offset), sealExtra]), { pins: [PIN] });
    expect(v.kind).toBe("modified");
    expect(messages(v)).toMatch(/the seal's hash item is not as dmrec writes it/);
  });

  test("a version 2 header stripped of its key chain, or downgraded to version 1 with the signatures dropped", () => {
    const bare: CaptureHeader = { ...P.header, signing: null };
    const noChain = verifyBytes(assemble(zstdCompress(encodeItem(bare)), infos, keepSignatures(P), null));
    expect(noChain.kind).toBe("bad_signature");
    expect(messages(noChain)).toMatch(/a version 2 header without its key chain/);
    // Rewritten as a version 1 file, which has no signatures: it verifies only as what it is, and a pin refuses it.
    const v1: CaptureHeader = { ...P.header, version: 1, signing: null };
    let h = headerHash(zstdCompress(encodeItem(v1)));
    const out = [zstdCompress(encodeItem(v1))];
    for (const s of infos) {
      const raw = encodeMetaInfo(s.info);
      h = segmentHash(h, s.data, raw);
      out.push(s.data, skippableFrame(concat([raw, encodeSegmentHash({ hash: h, next_key: null, signature: null }, 1)])));
    }
    const downgraded = concat(out);
    expect(verifyBytes(downgraded).notes.join("\n")).toMatch(/a version 1 capture: its segments are not signed/);
    const pinned = verifyBytes(downgraded, { pins: [PIN] });
    expect(kinds(pinned)).toContain("unsigned");
    expect(messages(pinned)).toMatch(/a version 1 capture has no key chain, so no pin can vouch for it/);
  });
});

describe("a key stolen at segment k", () => {
  // The intruder takes the host while segment k is open: the recorder holds
  // the key that will sign segment k, and every key after it is made later.
  // Every earlier key was wiped when it signed.
  test("lets the intruder forge segment k onwards, and nothing before it", () => {
    for (let k = 1; k <= 4; k++) {
      const stolen = SEEDS.slice(k - 1);
      const mine = seedsOf(`forger-${k}`, 6);
      // What the intruder can sign: the stolen keys where the chain asks for them, his own after.
      const withStolen: Signer = (i, hash) => {
        const own = (j: number) => (j - k < stolen.length ? stolen[j - k]! : mine[j]!);
        const nextKey = publicOf(i + 1 - k < stolen.length ? stolen[i + 1 - k]! : mine[i + 1]!);
        return { nextKey, signature: signWith(i >= k ? own(i) : mine[i]!, segmentMessage(hash, nextKey)) };
      };
      for (let j = 1; j <= 4; j++) {
        const changed = infos.map((s, i) => (i === j - 1 ? { ...s, data: edited(s.data) } : s));
        // Genuine signatures before k (he cannot make new ones), his signatures from k on.
        const sign: Signer = (i, hash) => (i < k ? keepSignatures(P)(i, hash) : withStolen(i, hash));
        const v = verifyBytes(assemble(P.headerFrame, changed, sign, { seed: stolen.at(-1)!, info: P.seal!.info }), { pins: [PIN] });
        if (j < k) {
          // The changed segment is never authenticated, whatever he signs after it.
          expect([j, k, v.kind, v.auth!.through < j]).toEqual([j, k, "bad_signature", true]);
        } else {
          // The boundary is real: from k on, the stolen keys forge, and verification cannot tell.
          expect([j, k, v.kind, v.auth!.seal]).toEqual([j, k, "ok", true]);
        }
      }
    }
  });
});

describe("forgeries of a rotation set", () => {
  // Three genuine files, each seal naming the next file's first key.
  const set1: CaptureSet = { id: "0b6f3c0e-5a54-4b8f-9e8e-2f6d3f0c1a01", file_index: 1, prev_file_hash: null };
  const seeds = [seedsOf("file1", 5), seedsOf("file2", 5), seedsOf("file3", 5)];
  const files: { path: string; bytes: Uint8Array }[] = [];
  let set = set1;
  for (let f = 0; f < 3; f++) {
    const next = f < 2 ? publicOf(seeds[f + 1]![0]!) : null;
    const g = genuine(`set-${f + 1}.cbor.zst`, seeds[f]!, { set, nextFileKey: next });
    files.push(g);
    const finalHash = (decodeMeta(slice(g.bytes, anatomy(g.bytes).seal!).subarray(8)) as SealRecord).info.final_hash;
    set = nextCaptureSet(set, finalHash);
  }
  const setPin = keyFingerprint(publicOf(seeds[0]![0]!));

  /** A file of the set as the intruder makes it: well formed, chained to the file before, signed with his own keys. */
  function forgedFile(index: number, prevFinalHash: Uint8Array) {
    const mine = seedsOf(`forged-file-${index}`, 5);
    const h: CaptureHeader = {
      ...header,
      set: { id: set1.id, file_index: index, prev_file_hash: prevFinalHash },
      signing: { scheme: "dmrec-fs1", first_key: publicOf(mine[0]!), endorsement: null },
    };
    const p = parts(files[0]!.bytes);
    return assemble(zstdCompress(encodeItem(h)), p.segments.map((s) => ({ data: s.data, info: s.trailer.info })), signWithSeeds(mine), {
      seed: mine[4]!,
      info: p.seal!.info,
    });
  }
  const finalOf = (bytes: Uint8Array) => (decodeMeta(slice(bytes, anatomy(bytes).seal!).subarray(8)) as SealRecord).info.final_hash;

  test("the genuine set: every file authenticated from the first file's pin", () => {
    const r = verifyCaptures(files.map((f) => f.path), { pins: [setPin] });
    expect(r.kind).toBe("ok");
    expect(r.files.map((f) => f.auth?.anchor)).toEqual(["pin", "previous file", "previous file"]);
  });

  test("a forged file appended after the last: the last file's seal says the recording ended there", () => {
    const path = temp.path("set-4.cbor.zst");
    writeFileSync(path, forgedFile(4, finalOf(files[2]!.bytes)));
    for (const opts of [{}, { pins: [setPin] }]) {
      const r = verifyCaptures([...files.map((f) => f.path), path], opts);
      expect(r.files.map((f) => f.kind)).toEqual(["ok", "ok", "ok", "bad_signature"]);
      expect(r.files[3]!.problems[0]!.message).toMatch(/says in its (signed|authentic) seal that the recording ended with it/);
    }
  });

  test("the middle file replaced by a forged one chained to the first: its key is not the one the first file's seal names", () => {
    const path = temp.path("set-2-forged.cbor.zst");
    writeFileSync(path, forgedFile(2, finalOf(files[0]!.bytes)));
    const r = verifyCaptures([files[0]!.path, path, files[2]!.path], { pins: [setPin] });
    expect(r.files[1]!.kind).toBe("bad_signature");
    expect(r.files[1]!.problems[0]!.message).toMatch(/its first key is not the one the authentic seal of .* names for the next file: it is not the file that followed/);
    // The file after it is vouched for by nothing genuine either.
    expect(r.files[2]!.kind).not.toBe("ok");
  });
});
