// Fuzzing the reader, verify and info with mutated fixture captures (events,
// aggregates of each scope, loss records; sealed, signed, unsealed): bit
// flips, overwritten bytes, truncations, splices of two files, frames
// removed, copied or swapped, length fields set to huge values (zstd content
// sizes and block sizes, skippable sizes, CBOR lengths in trailers and seals,
// and CBOR lengths and nesting inside data frames, recompressed so that zstd
// accepts them), zstd bombs, and values the strict reader must refuse (a
// float, a bignum or another tag for any value, a key given twice or not
// text, text that is not UTF-8), which the reader must report naming the
// segment and the byte. Whatever the input, each must answer with a clear
// error or a clearly reported partial result: no other exception, no hang, no
// unbounded memory; the reader yields only items the originals hold (unless
// the mutation re-compressed a frame: then verify must catch it), and verify
// never calls a changed file ok.
//
// Seeded and reproducible: DMREC_FUZZ_SEED (default below) and
// DMREC_FUZZ_ITERATIONS; DMREC_FUZZ_ONLY=N replays iteration N alone.
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { contentCursor, decodeItems } from "../../src/capture/items.ts";
import { SegmentEncoder } from "../../src/capture/encode.ts";
import { walkFrames } from "../../src/capture/zstd_frames.ts";
import { DamagedInputError, InputError } from "../../src/errors.ts";
import type { CaptureItem, SegmentItem } from "../../src/event.ts";
import { captureInfo } from "../../src/info.ts";
import { loadPublicKey } from "../../src/keys.ts";
import { zstd, zstdCompress } from "../../src/runtime.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import type { VerifyKind } from "../../src/verify/kinds.ts";
import { decodeFirst, encode as cborgEncode } from "cborg";
import { concat, isSubsequence, readAll, rng, type Rng, ROOT, tempDir, withPair, withValue } from "../support/captures.ts";

const SEED = Number(process.env.DMREC_FUZZ_SEED ?? 0x5eed2025);
const ITERATIONS = Number(process.env.DMREC_FUZZ_ITERATIONS ?? 3000);
const ONLY = process.env.DMREC_FUZZ_ONLY === undefined ? undefined : Number(process.env.DMREC_FUZZ_ONLY);
/** Content limit for the fuzzed reads: a bomb is stopped at 4 MiB instead of 64, to keep iterations fast. */
const MAX_CONTENT = 4 << 20;

const temp = tempDir("dmrec-fuzz-");
afterAll(temp.cleanup);

const FIXTURES = join(ROOT, "fixtures");
const publicKey = loadPublicKey(join(FIXTURES, "test-key.pub.pem"));

interface Seed {
  name: string;
  bytes: Uint8Array;
  items: CaptureItem[];
  kind: VerifyKind;
}
const seeds: Seed[] = ["small", "signed", "unsealed", "empty", "flood", "rotated", "rotated.000002"].map((name) => {
  const path = join(FIXTURES, `${name}.cbor.zst`);
  const { items, error } = readAll(path);
  if (error) throw error;
  return { name, bytes: new Uint8Array(readFileSync(path)), items, kind: verifyCapture(path, { publicKey }).kind };
});

interface Mutant {
  bytes: Uint8Array;
  /** the kind of mutation, for the statistics */
  kind: string;
  what: string;
  /** a frame was re-compressed: the reader may yield changed items (verify must object) */
  recompressed?: boolean;
  /** the items may come from both seeds (a splice) */
  other?: Seed;
  /** a prefix of the seed */
  truncated?: boolean;
  /** whole frames moved or copied: the reader yields their items where they now are (it does not check order; verify does) */
  reordered?: boolean;
  /** a value the strict reader must refuse, in data frame `segment` (1-based among data frames after the header): the reader must say so */
  refused?: { segment: number };
}

type Frame = { offset: number; length: number; kind: string };
const framesOf = (b: Uint8Array): Frame[] =>
  [...walkFrames(b)].flatMap((f) => (f.kind === "standard" || f.kind === "skippable" ? [{ offset: f.offset, length: f.length, kind: f.kind }] : []));

const HUGE32 = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000000, 0x01000000];

function setU32(b: Uint8Array, at: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0, true);
}

/** A CBOR head announcing a huge length, or deep nesting. */
function hostileCbor(r: Rng): Uint8Array {
  switch (r.int(6)) {
    case 0:
      return new Uint8Array([r.pick([0x5b, 0x7b, 0x9b, 0xbb]), ...Array(8).fill(r.pick([0xff, 0x7f, 0x00])), 0x01]);
    case 1:
      return new Uint8Array([r.pick([0x5a, 0x7a, 0x9a, 0xba]), 0xff, 0xff, 0xff, r.pick([0xff, 0x00])]);
    case 2:
      return new Uint8Array(r.pick([100, 5000, 200_000])).fill(r.pick([0x81, 0xa1, 0x9f, 0xc6])); // deep nesting, tags
    case 3:
      return new Uint8Array([0x5f, 0x41, 0x00]); // an indefinite string, never closed
    case 4:
      return new Uint8Array([0xf9, 0x7e, 0x00]); // a float (NaN)
    default:
      return new Uint8Array([0x1c + r.int(4)]); // reserved additional information
  }
}

/** RLE blocks of 128 KiB each: a small frame that inflates a lot. */
function bomb(blocks: number, declared: bigint | null): Uint8Array {
  const head = [0x28, 0xb5, 0x2f, 0xfd, declared === null ? 0x00 : 0xc0, 0x58];
  if (declared !== null) for (let i = 0n; i < 8n; i++) head.push(Number((declared >> (8n * i)) & 0xffn));
  for (let i = 0; i < blocks; i++) {
    const bh = (128 * 1024 * 8) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    head.push(bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff, 0x61);
  }
  return new Uint8Array(head);
}

function mutate(r: Rng, seed: Seed): Mutant {
  const src = seed.bytes;
  const frames = framesOf(src);
  const b = new Uint8Array(src);
  const frame = r.pick(frames);
  switch (r.int(14)) {
    case 0: {
      const n = 1 + r.int(8);
      for (let i = 0; i < n; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return { bytes: b, kind: "bit flips", what: `${n} bit flips` };
    }
    case 1: {
      const at = r.int(b.length);
      const n = 1 + r.int(16);
      const v = r.pick([0x00, 0xff, -1]);
      for (let i = at; i < Math.min(b.length, at + n); i++) b[i] = v < 0 ? r.int(256) : v;
      return { bytes: b, kind: "bytes overwritten", what: `${n} bytes at ${at} set to ${v}` };
    }
    case 2: {
      const cut = r.int(src.length);
      return { bytes: src.slice(0, cut), kind: "truncation", what: `cut at ${cut}`, truncated: true };
    }
    case 3: {
      const other = r.pick(seeds);
      const i = r.int(src.length + 1);
      const j = r.int(other.bytes.length + 1);
      return { bytes: concat([src.subarray(0, i), other.bytes.subarray(j)]), kind: "splice", what: `${seed.name}[0..${i}] + ${other.name}[${j}..]`, other };
    }
    case 4: {
      // A frame removed, copied or moved.
      const g = r.pick(frames);
      const piece = src.subarray(g.offset, g.offset + g.length);
      const rest = concat([src.subarray(0, g.offset), src.subarray(g.offset + g.length)]);
      const at = r.pick(framesOf(rest).map((f) => f.offset).concat([rest.length]));
      const op = r.int(3);
      if (op === 0) return { bytes: rest, kind: "frame removed", what: `frame at ${g.offset} removed` };
      const base = op === 1 ? src : rest;
      const where = op === 1 ? r.pick(frames.map((f) => f.offset).concat([src.length])) : at;
      return {
        bytes: concat([base.subarray(0, where), piece, base.subarray(where)]),
        kind: op === 1 ? "frame copied" : "frame moved",
        what: `frame at ${g.offset} ${op === 1 ? "copied" : "moved"} to ${where}`,
        reordered: true,
      };
    }
    case 5: {
      // A skippable frame's size, or a standard frame's content size or block size, made huge.
      if (frame.kind === "skippable") {
        setU32(b, frame.offset + 4, r.pick([...HUGE32, frame.length - 8 + 1 + r.int(4096)]));
        return { bytes: b, kind: "skippable size", what: `skippable size at ${frame.offset} set huge` };
      }
      const fhd = b[frame.offset + 4]!;
      const single = (fhd >> 5) & 1;
      const fcsSize = [single, 2, 4, 8][fhd >> 6]!;
      const fcsAt = frame.offset + 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
      if (r.chance(0.5)) {
        // Frame_Content_Size rewritten as an 8-byte field declaring a huge size.
        const huge = r.pick([1n << 40n, (1n << 64n) - 1n, 1n << 27n]);
        const head = src.slice(frame.offset, fcsAt);
        head[4] = (fhd & 0x3f) | 0xc0;
        const fcs = new Uint8Array(8);
        for (let i = 0n; i < 8n; i++) fcs[Number(i)] = Number((huge >> (8n * i)) & 0xffn);
        return {
          bytes: concat([src.subarray(0, frame.offset), head, fcs, src.subarray(fcsAt + fcsSize)]),
          kind: "zstd content size",
          what: `content size of the frame at ${frame.offset} set to ${huge}`,
        };
      }
      // The first block header: its size field set to 128 KiB or more.
      const bh = fcsAt + fcsSize;
      const size = r.pick([0x1fffff, 128 * 1024, 128 * 1024 + 1, 65535]);
      const v = (size << 3) | (b[bh]! & 7);
      b[bh] = v & 0xff;
      b[bh + 1] = (v >> 8) & 0xff;
      b[bh + 2] = (v >> 16) & 0xff;
      return { bytes: b, kind: "zstd block size", what: `block size at ${bh} set to ${size}` };
    }
    case 6:
    case 7: {
      // Hostile CBOR in a trailer's or the seal's payload (uncompressed, so written directly).
      const metas = frames.filter((f) => f.kind === "skippable");
      if (metas.length === 0) return { bytes: b, kind: "none", what: "nothing" };
      const m = r.pick(metas);
      const at = m.offset + 8 + r.int(m.length - 8);
      const evil = hostileCbor(r);
      const grown = concat([src.subarray(0, at), evil, src.subarray(Math.min(at + evil.length, m.offset + m.length), m.offset + m.length)]);
      const out = concat([grown, src.subarray(m.offset + m.length)]);
      if (r.chance(0.5)) setU32(out, m.offset + 4, grown.length - m.offset - 8); // keep the frame whole
      return { bytes: out, kind: "CBOR lengths/nesting in a trailer or seal", what: `hostile CBOR at ${at} in the skippable frame at ${m.offset}` };
    }
    case 8: {
      // Hostile CBOR inside a data frame, re-compressed so that zstd accepts it.
      const data = frames.filter((f) => f.kind === "standard");
      const d = r.pick(data);
      const content = zstd.decompress(src.subarray(d.offset, d.offset + d.length), 1 << 24);
      const at = r.int(content.length + 1);
      const evil = hostileCbor(r);
      const changed = concat([content.subarray(0, at), evil, content.subarray(Math.min(content.length, at + (r.chance(0.5) ? evil.length : 0)))]);
      const frame2 = zstdCompress(changed);
      return {
        bytes: concat([src.subarray(0, d.offset), frame2, src.subarray(d.offset + d.length)]),
        kind: "CBOR lengths/nesting in a data frame",
        what: `hostile CBOR at ${at} in the data frame at ${d.offset}, re-compressed`,
        recompressed: true,
      };
    }
    case 9: {
      const data = frames.filter((f) => f.kind === "standard");
      const d = r.pick(data);
      const declared = r.pick([null, 1n << 40n, 1n << 20n, 1n << 63n]);
      const x = bomb(r.pick([8, 40, 200]), declared);
      return { bytes: concat([src.subarray(0, d.offset), x, src.subarray(d.offset + d.length)]), kind: "zstd bomb", what: `zstd bomb (declared ${declared}) for the frame at ${d.offset}` };
    }
    case 10: {
      // An item's count (aggregate, loss) or pid (event) changed and its segment re-encoded as
      // the writer would: valid in every way but the hash chain, which verify must notice.
      const segments = frames.slice(1).filter((f) => f.kind === "standard");
      if (segments.length === 0) return { bytes: b, kind: "none", what: "nothing" };
      const d = r.pick(segments);
      const items = [...decodeItems(contentCursor(zstd.decompress(src.subarray(d.offset, d.offset + d.length), 1 << 24)))] as SegmentItem[];
      const i = r.int(items.length);
      const it = items[i]!;
      items[i] =
        it.type === "event"
          ? { ...it, pid: (it.pid + 1 + r.int(1000)) >>> 0 }
          : it.type === "clock"
            ? { ...it, boot_ns: it.boot_ns + 1n }
            : { ...it, count: it.count + 1 + r.int(1000) };
      const enc = new SegmentEncoder();
      for (const item of items) enc.append(item);
      return {
        bytes: concat([src.subarray(0, d.offset), zstdCompress(enc.contents()), src.subarray(d.offset + d.length)]),
        kind: "item value changed, re-encoded",
        what: `item ${i + 1} (${it.type}) of the data frame at ${d.offset} changed and re-encoded`,
        recompressed: true,
      };
    }
    case 12:
    case 13: {
      // One value of one item made what the format forbids where it stands (a float or a
      // bignum for any value, a key twice, a key that is not text, text that is not UTF-8),
      // the frame re-compressed: the strict reader must refuse it, naming segment and byte.
      const data = frames.slice(1).filter((f) => f.kind === "standard");
      if (data.length === 0) return { bytes: b, kind: "none", what: "nothing" };
      const segment = r.int(data.length);
      const d = data[segment]!;
      const content = zstd.decompress(src.subarray(d.offset, d.offset + d.length), 1 << 24);
      const starts: number[] = [];
      for (let at = 0; at < content.length; at += content.length - at - decodeFirst(content.subarray(at))[1].length) starts.push(at);
      const i = r.int(starts.length);
      const item = content.subarray(starts[i], starts[i + 1] ?? content.length);
      const key = r.pick(Object.keys(decodeFirst(item)[0] as object));
      const forbidden = r.pick([
        { what: "a half float", bytes: [0xf9, 0x3c, 0x00] },
        { what: "a double", bytes: [0xfb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18] },
        { what: "a tag 2 bignum", bytes: [0xc2, 0x42, 0x01, 0x00] },
        { what: "a tag", bytes: [0xd8, 0x20, 0x00] },
        { what: "undefined", bytes: [0xf7] },
      ]);
      const changed = r.pick([
        () => ({ what: `${forbidden.what} for "${key}"`, bytes: withValue(item, key, forbidden.bytes) }),
        () => ({ what: `"${key}" twice`, bytes: withPair(item, [...cborgEncode(key)], [0x00]) }),
        () => ({ what: "an integer key", bytes: withPair(item, [0x07], [0x00]) }),
        () => ({ what: "text that is not UTF-8", bytes: withPair(item, [0x61, 0x7a], [0x62, 0xc3, 0x28]) }),
      ])();
      const recompressed = zstdCompress(concat([content.subarray(0, starts[i]), changed.bytes, content.subarray(starts[i]! + item.length)]));
      return {
        bytes: concat([src.subarray(0, d.offset), recompressed, src.subarray(d.offset + d.length)]),
        kind: "a forbidden value, re-encoded",
        what: `${changed.what} in item ${i + 1} of segment ${segment + 1}`,
        recompressed: true,
        refused: { segment: segment + 1 },
      };
    }
    default: {
      const at = r.int(src.length + 1);
      const junk = new Uint8Array(1 + r.int(64)).map(() => r.int(256));
      return { bytes: concat([src.subarray(0, at), junk, src.subarray(at)]), kind: "junk inserted", what: `${junk.length} random bytes inserted at ${at}` };
    }
  }
}

test(
  "fuzz: reader, verify and info on mutated captures",
  () => {
    const path = join(temp.dir, "mutant.cbor.zst");
    const findings: string[] = [];
    const stats = { mutations: new Map<string, number>(), readerErrors: new Map<string, number>(), verifyKinds: new Map<string, number>() };
    const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    let slowest = { ms: 0, iteration: -1 };
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const first = ONLY ?? 0;
    const last = ONLY === undefined ? ITERATIONS : ONLY + 1;

    for (let it = first; it < last; it++) {
      const r = rng(SEED ^ Math.imul(it + 1, 0x9e3779b1));
      const seed = r.pick(seeds);
      const m = mutate(r, seed);
      bump(stats.mutations, m.kind ?? "other");
      const tag = `iteration ${it} (${seed.name}: ${m.what})`;
      writeFileSync(path, m.bytes);
      const unchanged = seeds.find((s) => s.bytes.length === m.bytes.length && Buffer.from(s.bytes).equals(Buffer.from(m.bytes)));
      const t0 = performance.now();

      // The reader: only its two errors; only original items unless a frame was re-compressed.
      const skip = r.chance(0.3) ? { skipSegment: () => r.chance(0.5) } : {};
      const { items, error } = readAll(path, { maxContentBytes: MAX_CONTENT, ...skip });
      if (error !== undefined && !(error instanceof InputError) && !(error instanceof DamagedInputError)) {
        findings.push(`${tag}: reader threw ${String(error)}`);
      } else if (error) {
        bump(stats.readerErrors, error.constructor.name);
        if (!(error as Error).message.startsWith(`${path}: `)) findings.push(`${tag}: reader error without the file name: ${String(error)}`);
      }
      if (m.refused && !skip.skipSegment) {
        const says = new RegExp(`: invalid item \\d+ in segment ${m.refused.segment} \\(content byte \\d+\\): .+ at byte \\d+$`);
        if (!(error instanceof DamagedInputError) || !says.test(error.message)) findings.push(`${tag}: the reader did not refuse it naming the segment and byte: ${String(error)}`);
      }
      const allowed = m.other ? [...seed.items, ...m.other.items] : seed.items;
      const held = m.reordered ? items.every((x) => allowed.some((y) => Bun.deepEquals(x, y, true))) : isSubsequence(items, allowed);
      if (!m.recompressed && !held) findings.push(`${tag}: reader yielded items the original does not hold`);

      // verify: never throws; a changed file is never ok.
      let kind: VerifyKind | undefined;
      try {
        const v = verifyCapture(path, { publicKey, maxContentBytes: MAX_CONTENT });
        kind = v.kind;
        bump(stats.verifyKinds, kind);
        for (const p of v.problems) {
          if (!p.message.startsWith(`${path}: `)) findings.push(`${tag}: verify message without the file name: ${p.message}`);
          if (p.offset !== null && (p.offset < 0 || p.offset > m.bytes.length)) findings.push(`${tag}: verify offset ${p.offset} outside the file`);
          if (p.message.includes("\n")) findings.push(`${tag}: verify message on several lines`);
        }
        if (!unchanged) {
          if (m.truncated && m.bytes.length > 0 && !["truncated", "unsealed", "not_a_capture"].includes(kind)) {
            findings.push(`${tag}: a cut file verified as ${kind}`);
          }
          if (kind === "ok" || kind === "unsigned") findings.push(`${tag}: changed file verified as ${kind}`);
        }
      } catch (e) {
        findings.push(`${tag}: verify threw ${String(e)}`);
      }

      // info: only the reader's two errors.
      try {
        captureInfo(path, { maxContentBytes: MAX_CONTENT });
      } catch (e) {
        if (!(e instanceof InputError) && !(e instanceof DamagedInputError)) findings.push(`${tag}: info threw ${String(e)}`);
      }

      const ms = performance.now() - t0;
      if (ms > slowest.ms) slowest = { ms, iteration: it };
      if (it % 100 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
    rssMax = Math.max(rssMax, process.memoryUsage().rss);

    const fmt = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(", ");
    console.log(
      [
        `fuzz: seed ${SEED}, ${last - first} iterations, ${findings.length} findings`,
        `  mutations: ${fmt(stats.mutations)}`,
        `  reader errors: ${fmt(stats.readerErrors)}`,
        `  verify kinds: ${fmt(stats.verifyKinds)}`,
        `  slowest iteration: ${slowest.iteration} (${slowest.ms.toFixed(1)} ms); rss ${(rss0 / 2 ** 20).toFixed(0)} MiB, at most ${(rssMax / 2 ** 20).toFixed(0)} MiB`,
        ...findings.slice(0, 20).map((f) => `  finding: ${f}`),
      ].join("\n"),
    );
    expect(findings).toEqual([]);
    expect(slowest.ms).toBeLessThan(2000);
    expect(rssMax - rss0).toBeLessThan(512 * 2 ** 20);
  },
  120_000,
);
