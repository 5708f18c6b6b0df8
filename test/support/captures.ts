// Shared by the capture tests (capture, verify, interop, fuzz): a header and
// events covering the value space, writing and reading captures, and frame
// surgery on real files (cutting a file into header, segments and seal).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decodeFirst, encode as cborgEncode } from "cborg";
import { readCapture, type ReadOptions } from "../../src/capture/reader.ts";
import { CaptureWriter, type WriterOptions } from "../../src/capture/writer.ts";
import { walkFrames, type ZstdFrame } from "../../src/capture/zstd_frames.ts";
import type { CaptureHeader, CaptureItem, DmrecEvent, LossRecord } from "../../src/event.ts";
import { zstdCompress } from "../../src/runtime.ts";
import { latin1, makeEvent } from "./events.ts";

export { skippableFrame } from "../../src/capture/zstd_frames.ts";
import { concat } from "../../src/capture/writer.ts";
export { concat };

export const ROOT = resolve(import.meta.dir, "../..");

/** A temporary directory and numbered paths in it; call cleanup() in afterAll. */
export function tempDir(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  return {
    dir,
    path: (name = "c.cbor.zst") => join(dir, `${++n}-${name}`),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const SET_ID = "5f0c3e1a-8d2b-4c47-9a61-0d1e2f3a4b5c";

export const header: CaptureHeader = {
  type: "header",
  format: "dmrec-capture",
  version: 1,
  dmrec_version: "0.1.0",
  host: { hostname: "host1", kernel: "6.18.0", boot_id: "0b7c1d7e-1f1e-4c4c-9d9d-000000000001", arch: "x86_64" },
  hook: "raw-syscalls",
  module_free: false,
  find_module: false,
  clock: { boot_to_wall_ns: 1764000000000000000n },
  argv: ["dmrec", "record", "--out", "c.cbor.zst"],
  start_ns: 1764118674000000000n,
  set: { id: SET_ID, file_index: 1, prev_file_hash: null },
};

export const loss: LossRecord = { type: "loss", ts_ns: 1764118675000000000n, count: 17, reason: "ringbuf_full" };

/** Events covering the value space: 64-bit extremes, non-UTF-8 bytes, nulls. */
export function sampleEvents(n: number): DmrecEvent[] {
  return Array.from({ length: n }, (_, i) => {
    switch (i % 4) {
      case 0:
        return makeEvent({ pid: 1000 + i, ts_ns: 1764118674123456789n + BigInt(i) });
      case 1: // a failed read at entry, a name with bytes that are not UTF-8, comm as bytes
        return makeEvent({
          pid: 1000 + i,
          comm: latin1("rm\xffmod"),
          name: latin1("du\x80\xfe"),
          name_entry: null,
          name_entry_err: -14,
          name_exit: latin1("du\x80\xfe"),
          name_kernel: null,
          ret: -2,
          errno: "ENOENT",
        });
      case 2: // 64-bit extremes
        return makeEvent({
          pid: 4294967295,
          boot_ns: 2n ** 64n - 1n,
          duration_ns: 0n,
          cgroup_id: 2n ** 63n,
          name_ptr: 0xffff_ffff_ffff_fff0n,
          ts_ns: -(2n ** 63n),
        });
      default: // nothing readable at all
        return makeEvent({
          pid: 1000 + i,
          name: null,
          name_entry: null,
          name_entry_err: -14,
          name_exit: null,
          name_exit_err: -14,
          name_kernel: null,
          errno: null,
          forced: true,
        });
    }
  });
}

/** A fixed clock for seals, so that files written twice are identical. */
export const FIXED_NOW = () => 1764118700000000000n;

export function writeCapture(
  path: string,
  items: (DmrecEvent | LossRecord)[],
  opts: WriterOptions & { header?: CaptureHeader } = {},
): CaptureWriter {
  const w = CaptureWriter.create(path, opts.header ?? header, { nowNs: FIXED_NOW, ...opts });
  for (const item of items) w.write(item);
  w.close();
  return w;
}

export function readAll(path: string, opts?: ReadOptions): { items: CaptureItem[]; error: unknown } {
  const items: CaptureItem[] = [];
  try {
    for (const item of readCapture(path, opts)) items.push(item);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

export type WholeFrame = ZstdFrame & { kind: "standard" | "skippable" };

/** The standard and skippable frames of a file (throws on anything else). */
export function framesOf(bytes: Uint8Array): WholeFrame[] {
  return [...walkFrames(bytes)].map((f) => {
    if (f.kind !== "standard" && f.kind !== "skippable") throw new Error(`unexpected frame ${JSON.stringify(f)}`);
    return f;
  });
}


/** A capture cut into its parts, as byte ranges of the file. */
export interface Anatomy {
  bytes: Uint8Array;
  header: WholeFrame;
  segments: { data: WholeFrame; trailer: WholeFrame }[];
  seal: WholeFrame | null;
}

/** Cuts a file written by CaptureWriter into header frame, segments (data + trailer) and seal. */
export function anatomy(bytes: Uint8Array): Anatomy {
  const frames = framesOf(bytes);
  const [head, ...rest] = frames;
  if (head?.kind !== "standard") throw new Error("no header frame");
  const segments: Anatomy["segments"] = [];
  let seal: WholeFrame | null = null;
  for (let i = 0; i < rest.length; i++) {
    const f = rest[i]!;
    if (f.kind === "standard") {
      const t = rest[++i];
      if (t?.kind !== "skippable") throw new Error(`data frame at ${f.offset} without trailer`);
      segments.push({ data: f, trailer: t });
    } else {
      if (i !== rest.length - 1) throw new Error("skippable frame before the end that is not a trailer");
      seal = f;
    }
  }
  return { bytes, header: head, segments, seal };
}

/** The bytes of a frame, or of a segment (data + trailer). */
export function slice(bytes: Uint8Array, from: { offset: number; length: number }, to = from): Uint8Array {
  return bytes.subarray(from.offset, to.offset + to.length);
}

/** A file of standard frames, each holding the given values encoded by cborg (an independent encoder). */
export function rawCapture(path: string, frames: unknown[][], encode: (v: unknown) => Uint8Array = (v) => cborgEncode(v)) {
  writeFileSync(path, concat(frames.map((values) => zstdCompress(concat(values.map(encode))))));
}

/** Decodes a CBOR sequence with cborg, which refuses tags it does not know. */
export function cborgSequence(bytes: Uint8Array): unknown[] {
  const values: unknown[] = [];
  for (let rest: Uint8Array = bytes; rest.length > 0; ) {
    const [value, remainder] = decodeFirst(rest);
    values.push(value);
    rest = remainder;
  }
  return values;
}

/** Integer-typed values compared by value (cborg and cbor-x differ on number vs bigint), bytes by content. */
export function canonical(v: unknown): unknown {
  if (typeof v === "bigint" || typeof v === "number") return `int:${v}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

export function isSubsequence(part: unknown[], whole: unknown[]): boolean {
  let j = 0;
  for (const x of part) {
    while (j < whole.length && !Bun.deepEquals(x, whole[j], true)) j++;
    if (j++ >= whole.length) return false;
  }
  return true;
}

export function run(cmd: string[], stdin?: Uint8Array) {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, stdin });
  return { code: r.exitCode, stdout: new Uint8Array(r.stdout), stderr: r.stderr.toString() };
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
