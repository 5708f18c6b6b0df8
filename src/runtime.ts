// What differs between the runtimes dmrec runs on (Bun, and Deno from a checkout):
// zstd, signals, workers, permissions; the FFI is src/kernel/native*.ts. Library code
// asks here instead of probing globals, and nothing here imports a Bun-only module,
// so Deno can load it.
import { walkFrames } from "./capture/zstd_frames.ts";
import * as zlib from "node:zlib";

export const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
export const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** Decompressed output would exceed the caller's bound (a zstd bomb, or a limit too low). */
export class ZstdLimitError extends Error {
  constructor(readonly maxOutput: number) {
    super(`decompressed data exceeds ${maxOutput} bytes`);
    this.name = "ZstdLimitError";
  }
}

export interface ZstdBackend {
  readonly name: "node:zlib" | "zstd-codec";
  compress(data: Uint8Array, level: number): Uint8Array;
  /**
   * Throws ZstdLimitError past maxOutput bytes, Error for corrupt input.
   * `sizeHint`, the frame's declared content size, lets one buffer take it
   * all: chunked output costs twice the content, freed late.
   */
  decompress(frame: Uint8Array, maxOutput: number, sizeHint?: number): Uint8Array;
}

export const ZSTD_DEFAULT_LEVEL = 3;

// Bun.zstdCompressSync cannot enable the content checksum, so both runtimes
// use their native node:zlib binding, which can.
function nodeZlibBackend(): ZstdBackend | null {
  if (typeof zlib.zstdCompressSync !== "function" || typeof zlib.zstdDecompressSync !== "function") {
    return null;
  }
  const c = zlib.constants;
  return {
    name: "node:zlib",
    compress: (data, level) =>
      zlib.zstdCompressSync(data, {
        // pledgedSrcSize makes Deno write Frame_Content_Size too (Bun does anyway).
        pledgedSrcSize: data.length,
        params: {
          [c.ZSTD_c_compressionLevel]: level,
          [c.ZSTD_c_checksumFlag]: 1,
          [c.ZSTD_c_contentSizeFlag]: 1,
        },
      }),
    decompress: (frame, maxOutput, sizeHint) => {
      try {
        // zlib takes no chunk below 64 bytes; the hint never exceeds maxOutput (checked by the caller).
        const chunkSize = sizeHint === undefined ? undefined : Math.max(64, Math.min(sizeHint, maxOutput));
        return zlib.zstdDecompressSync(frame, { maxOutputLength: maxOutput, ...(chunkSize === undefined ? {} : { chunkSize }) });
      } catch (e) {
        if ((e as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw new ZstdLimitError(maxOutput);
        throw e;
      }
    },
  };
}

// The part of zstd-codec's Emscripten binding (zstd 1.3) used below; its
// public wrapper has no bounded decompression, so the binding is used directly.
interface VectorU8 {
  resize(size: number, fill: number): void;
  delete(): void;
}
interface CodecBinding {
  VectorU8: new () => VectorU8;
  cloneToVector(dest: VectorU8, src: Uint8Array): void;
  cloneAsTypedArray(src: VectorU8): Uint8Array;
  ZstdCodec: new () => {
    compressBound(size: number): number;
    compress(dest: VectorU8, src: VectorU8, level: number): number;
  };
  ZstdDecompressStreamBinding: new () => {
    begin(): boolean;
    transform(input: Uint8Array, onOutput: (chunk: Uint8Array) => void): boolean;
    end(onOutput: (chunk: Uint8Array) => void): boolean;
    delete(): void;
  };
}

/**
 * The WebAssembly fallback for a runtime without zstd in node:zlib. Its
 * frames carry no content checksum (the binding cannot enable one) and it
 * loads asynchronously. Exported so tests can cross-check it with node:zlib.
 */
export async function loadZstdCodecBackend(): Promise<ZstdBackend> {
  // @ts-expect-error zstd-codec ships no type declarations
  const loader = (await import("zstd-codec/lib/module.js")) as unknown as {
    run(onReady: (binding: CodecBinding) => void): void;
  };
  // The Emscripten module object has a `then`: resolving a promise with it
  // would never settle, so it travels wrapped.
  const { b } = await new Promise<{ b: CodecBinding }>((resolve) => loader.run((b) => resolve({ b })));
  const codec = new b.ZstdCodec();
  return {
    name: "zstd-codec",
    compress: (data, level) => {
      // One-shot ZSTD_compress, which writes Frame_Content_Size.
      const src = new b.VectorU8();
      const dest = new b.VectorU8();
      try {
        b.cloneToVector(src, data);
        dest.resize(codec.compressBound(data.length), 0);
        const size = codec.compress(dest, src, level);
        if (size < 0) throw new Error("zstd-codec: compression failed");
        dest.resize(size, 0);
        return b.cloneAsTypedArray(dest);
      } finally {
        src.delete();
        dest.delete();
      }
    },
    decompress: (frame, maxOutput) => {
      // The output callback only counts, so that no exception unwinds through
      // wasm frames; input goes in 2 KiB slices, after each of which a bomb
      // is stopped (one slice can expand to at most ~64 MiB of RLE blocks).
      const chunks: Uint8Array[] = [];
      let total = 0;
      const onOutput = (chunk: Uint8Array) => {
        total += chunk.length;
        if (total <= maxOutput) chunks.push(chunk.slice());
      };
      const SLICE = 2048;
      const stream = new b.ZstdDecompressStreamBinding();
      try {
        let ok = stream.begin();
        for (let at = 0; ok && at < frame.length && total <= maxOutput; at += SLICE) {
          ok = stream.transform(frame.subarray(at, at + SLICE), onOutput);
        }
        if (total > maxOutput) throw new ZstdLimitError(maxOutput);
        if (!ok || !stream.end(onOutput)) throw new Error("zstd-codec: corrupt zstd data");
        if (total > maxOutput) throw new ZstdLimitError(maxOutput);
      } finally {
        stream.delete();
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
  };
}

/** The backend in use: native where the runtime has it, else WebAssembly. */
export const zstd: ZstdBackend = nodeZlibBackend() ?? (await loadZstdCodecBackend());

/** One zstd frame with Frame_Content_Size and a content checksum. */
/**
 * Exactly one zstd frame of `data`. Deno's node:zlib appends an empty second
 * frame once its output passes 16 KiB; that frame is dropped here, where the
 * runtimes' differences live. Anything else unexpected is an internal error.
 */
export function zstdCompress(data: Uint8Array, level: number = ZSTD_DEFAULT_LEVEL): Uint8Array {
  const out = zstd.compress(data, level);
  const frames = [...walkFrames(out)];
  const [first] = frames;
  if (first?.kind !== "standard") throw new Error(`zstd produced no frame (${first?.kind})`);
  if (frames.length === 1) return out;
  const extra = frames.slice(1);
  if (first.contentSize === BigInt(data.length) && extra.every((f) => f.kind === "standard" && f.contentSize === 0n)) {
    return out.subarray(0, first.length);
  }
  throw new Error(`zstd produced ${frames.length} frames for one input`);
}

/**
 * Decompresses zstd data, refusing (ZstdLimitError) to produce more than
 * maxOutput bytes. It does not detect a truncated frame: check frame
 * boundaries with parseFrame first.
 */
export function zstdDecompress(frame: Uint8Array, maxOutput: number, sizeHint?: number): Uint8Array {
  return zstd.decompress(frame, maxOutput, sizeHint);
}

/** Deno's permissions, of which recording needs every one. */
const DENO_PERMISSIONS = ["read", "write", "net", "env", "sys", "run", "ffi"] as const;

/**
 * The permissions this runtime withholds that recording needs: none under Bun; under
 * Deno any not granted, since Deno opens /proc and /sys (kallsyms, BTF, fdinfo) only
 * with all of them, and FFI is all of them in effect.
 */
export function permissionsWithheldFromRecording(): string[] {
  if (!isDeno) return [];
  const { permissions } = (globalThis as unknown as { Deno: { permissions: { querySync(d: { name: string }): { state: string } } } }).Deno;
  return DENO_PERMISSIONS.filter((name) => permissions.querySync({ name }).state !== "granted");
}

/**
 * Lets signal handlers and timers run between blocking FFI calls, and comes back. Bun
 * runs them before a setImmediate callback. Deno hands a signal to its handler only when
 * its loop polls, which a chain of setImmediate callbacks put off (a SIGTERM was acted
 * on 0.45 to 3.5 s late); a zero timer lets it poll (32-37 ms).
 */
export const yieldToEventLoop: () => Promise<void> = isDeno
  ? () => new Promise((resolve) => setTimeout(resolve, 0))
  : () => new Promise((resolve) => setImmediate(resolve));

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Calls `onStop` on SIGINT or SIGTERM instead of letting the process die, so
 * that a recorder can drain and close its capture. Returns the function that
 * restores the default behaviour.
 */
export function onStopSignals(onStop: () => void): () => void {
  const handler = () => onStop();
  for (const sig of STOP_SIGNALS) process.on(sig, handler);
  return () => {
    for (const sig of STOP_SIGNALS) process.off(sig, handler);
  };
}

/** Calls `onHup` on each SIGHUP (the recorder rotates its capture); returns the unhook function. */
export function onHangupSignal(onHup: () => void): () => void {
  const handler = () => onHup();
  process.on("SIGHUP", handler);
  return () => {
    process.off("SIGHUP", handler);
  };
}

/**
 * A module worker running `src/<path>`. From a checkout (Bun or Deno) the path is
 * relative to this file, which is in src/; inside the executable, where import.meta.url
 * is the bundle's root, relative to that root, under which `bun build --compile` puts
 * the worker's entry point (the Makefile lists it) as src/ holds it.
 */
export function startWorker(path: string): Worker {
  const compiled = import.meta.url.includes("/$bunfs/");
  return new Worker(compiled ? `./${path}` : new URL(`./${path}`, import.meta.url).href, { type: "module" });
}

/**
 * Asks for a garbage collection now, where the runtime offers one (Bun; a no-op under
 * Deno). For after a record of megabytes: its transient text is outside the heap the
 * collector paces itself by, and piled up for hundreds of MiB before being freed.
 */
export function collectGarbage(): void {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
}
