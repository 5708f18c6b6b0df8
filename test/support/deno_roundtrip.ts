// Run by test/unit/interop.test.ts under Deno (deno run -A --no-check):
// reads, verifies and describes a capture Bun wrote, and writes two captures
// for Bun to check (one whose key chain the long-term key endorses, one with
// segments large enough to show how Deno's node:zlib frames them), both with
// random chain keys. Prints one JSON line.
//   deno run -A --no-check test/support/deno_roundtrip.ts IN PUBKEY PRIVKEY OUT BIGOUT
import { readCapture } from "../../src/capture/reader.ts";
import { CaptureWriter } from "../../src/capture/writer.ts";
import type { CaptureHeader, SegmentItem } from "../../src/event.ts";
import { captureInfo } from "../../src/info.ts";
import { loadPrivateKey, loadPublicKey } from "../../src/keys.ts";
import { isBun, isDeno, zstd } from "../../src/runtime.ts";
import { walkFrames } from "../../src/capture/zstd_frames.ts";
import { verifyCaptures } from "../../src/verify/sets.ts";
import { makeEvent } from "./events.ts";

const [input, pubkey, privkey, out, bigOut] = process.argv.slice(2) as [string, string, string, string, string];
const items = [...readCapture(input)];
const skipped = [...readCapture(input, { skipSegment: (s) => s.index === 1 })].length;
const publicKey = loadPublicKey(pubkey);
const report = verifyCaptures([input], { publicKey });
const info = captureInfo(input);

const header = items[0] as CaptureHeader;
const w = CaptureWriter.create(out, header, { segmentEvents: 4, signKey: loadPrivateKey(privkey) });
for (const it of items.slice(1)) w.write(it as SegmentItem);
const { finalHash } = w.close();

const big = CaptureWriter.create(bigOut, { ...header, set: { ...header.set, id: crypto.randomUUID() } }, { segmentEvents: 1000 });
// Incompressible names, so that each segment compresses to more than 16 KiB.
for (let i = 0; i < 3000; i++) big.write(makeEvent({ pid: i, ts_ns: BigInt(i), name_kernel: crypto.getRandomValues(new Uint8Array(64)) }));
big.close();
// Deno's node:zlib backend ends a frame whose output passes 16 KiB with an empty second frame (zstdCompress drops it).
const extraFrame = [...walkFrames(zstd.compress(crypto.getRandomValues(new Uint8Array(20000)), 3))].length > 1;

console.log(
  JSON.stringify({
    isDeno,
    isBun,
    backend: zstd.name,
    extraFrame,
    items: items.length,
    skipped,
    verify: report.kind,
    signature: report.files[0]!.signature,
    info: { events: info.events, aggregates: info.aggregates, segments: info.segments, sealed: info.sealed, signed: info.signed, index: info.index },
    stats: w.stats,
    finalHash: Buffer.from(finalHash).toString("hex"),
    // The fingerprint of its (random) first chain key, as record prints it for verify --pin.
    firstKey: w.firstKeyFingerprint,
  }),
);
