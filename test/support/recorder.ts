// Shared by the recording tests: run the compiled recorder around some work,
// query what it recorded, decode a capture independently.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeFirst } from "cborg";

export const DMREC = "dist/dmrec";
export const DM_CALL = "build/dm_call";

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
export const ascii = (s: string) => new TextEncoder().encode(s);

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the recording tests need root (CAP_BPF, CAP_PERFMON): run them as root, as CI does");
  }
}

export function dmrec(...args: string[]) {
  const r = Bun.spawnSync([DMREC, ...args]);
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function jsonl(text: string): Record<string, unknown>[] {
  return text.trim() === "" ? [] : text.trim().split("\n").map((l) => JSON.parse(l));
}

/** `dmrec query FILE --format jsonl ARGS...`, parsed; a failed query throws. */
export function query(file: string, ...args: string[]): Record<string, unknown>[] {
  const r = dmrec("query", file, "--format", "jsonl", ...args);
  if (r.code !== 0) throw new Error(`dmrec query ${file} ${args.join(" ")} failed: ${r.stderr}`);
  return jsonl(r.stdout);
}

/** Runs a helper to completion and parses its JSON lines (its ground truth). */
export function runJson<T>(cmd: string[]): T[] {
  const r = Bun.spawnSync(cmd);
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString()}`);
  return jsonl(r.stdout.toString()) as T[];
}

/** Every item of a capture, through the zstd CLI and the independent cborg decoder. */
export function captureItems(file: string): Record<string, unknown>[] {
  const plain = Bun.spawnSync(["zstd", "-q", "-dc", file]);
  if (plain.exitCode !== 0) throw new Error(`zstd -dc ${file} failed: ${plain.stderr.toString()}`);
  let rest: Uint8Array = plain.stdout;
  const items: Record<string, unknown>[] = [];
  while (rest.length > 0) {
    const [item, remainder] = decodeFirst(rest);
    items.push(item as Record<string, unknown>);
    rest = remainder;
  }
  return items;
}

interface ChunkReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
}

/** Reads `from` (a stream, or the reader a previous call returned) until `marker` shows. */
export async function readUntil(from: ReadableStream<Uint8Array> | ChunkReader, marker: RegExp, timeoutMs: number) {
  const reader: ChunkReader = "getReader" in from ? from.getReader() : from;
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!marker.test(text)) {
    const chunk = await Promise.race([
      reader.read(),
      Bun.sleep(Math.max(0, deadline - Date.now())).then(() => ({ done: true, value: undefined, timeout: true })),
    ]);
    if ("timeout" in chunk) throw new Error(`recorder did not say ${marker} within ${timeoutMs} ms; stderr so far: ${text}`);
    if (chunk.done) throw new Error(`recorder exited before saying ${marker}; stderr: ${text}`);
    text += new TextDecoder().decode(chunk.value);
  }
  return { text, reader };
}

export interface Stopped {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Recorder {
  dir: string;
  pid: number;
  capture: string;
  /** Lets the poll loop take what the kernel emitted, then stops with `signal`. */
  stop(signal?: "SIGINT" | "SIGTERM"): Promise<Stopped>;
}

/** Starts `dist/dmrec record` into a fresh directory and waits until it is attached. */
/** `deno task record`: the recorder under Deno, from this checkout. */
export const DENO_RECORD = ["node_modules/.bin/deno", "task", "-q", "record"];

/** Starts `command` (the executable's record, or DENO_RECORD) into a capture of its own. */
export async function startRecorder(extraArgs: string[] = [], command = [DMREC, "record"]): Promise<Recorder> {
  const dir = mkdtempSync(join(tmpdir(), "dmrec-e2e-"));
  const capture = join(dir, "c.cbor.zst");
  const rec = Bun.spawn([...command, "--out", capture, "--segment-ms", "200", ...extraArgs], {
    stderr: "pipe",
    stdout: "pipe",
  });
  const { text, reader } = await readUntil(rec.stderr, /recording to .* \(hook [^)]*\)/, 20_000);
  return {
    dir,
    pid: rec.pid,
    capture,
    async stop(signal = "SIGINT") {
      await Bun.sleep(300);
      rec.kill(signal);
      const exitCode = await rec.exited;
      let stderr = text;
      for (let c = await reader.read(); !c.done; c = await reader.read()) stderr += new TextDecoder().decode(c.value);
      return { exitCode, stdout: await new Response(rec.stdout).text(), stderr };
    },
  };
}
