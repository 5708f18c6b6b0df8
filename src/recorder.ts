// `dmrec record` as a library: attach the probe, turn each ring-buffer record
// into an event, write it to the capture, account for every loss, and close
// the capture cleanly when asked to stop.
import type { KeyObject } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { CaptureWriter, newCaptureSet, nextCaptureSet } from "./capture/writer.ts";
import { OutputError } from "./errors.ts";
import { LOSS_REASONS, type CaptureHeader, type DmrecEvent, type LossRecord } from "./event.ts";
import { toEvent, type DecodeContext } from "./event_decode.ts";
import { decodeRawEvent } from "./kernel/event_layout.ts";
import { attachChosen, type HookAttempt, type HookChoice, type LossCounters, type ProbePlan } from "./kernel/loader.ts";
import { readBpfObject } from "./kernel/bpf_object.ts";
import { bootToWallOffsetNs, hostInfo } from "./kernel/host.ts";
import { assertCanRecord } from "./kernel/privileges.ts";
import { exeCache } from "./kernel/procfs.ts";
import { VERSION } from "./version.ts";

export interface RotationOptions {
  /** start a new file once this one holds this many bytes */
  sizeBytes?: number;
  /** start a new file after this long */
  everyMs?: number;
  /** keep at most this many files of the set, deleting the oldest */
  maxFiles?: number;
}

export interface RecordOptions {
  out: string;
  force: boolean;
  hook: HookChoice;
  /** stop by itself after this long */
  durationMs?: number;
  segmentEvents?: number;
  segmentMs?: number;
  rotate: RotationOptions;
  /** set by the caller (SIGHUP) to start a new file; reset when done */
  rotateRequest: { pending: boolean };
  /** Ed25519 key that signs each file's seal */
  signKey?: KeyObject;
  argv: string[];
  /** aborted by the caller (SIGINT/SIGTERM) to stop cleanly */
  stop: AbortSignal;
  /** once attached, before the first poll */
  onAttached?: (info: { plan: ProbePlan; out: string; attempts: HookAttempt[] }) => void;
  onEvent?: (ev: DmrecEvent) => void;
  /** each time a new file of a rotation set is started; `kept`: old files --max-files could not delete */
  onRotate?: (info: { closed: string; opened: string; deleted: string[]; kept: { file: string; why: string }[] }) => void;
  /** about once a second */
  onProgress?: (stats: RecordStats) => void;
}

export interface RecordStats {
  events: number;
  lost: number;
  bytes: number;
  segments: number;
  /** the files of the set still on disk, oldest first */
  files: string[];
}

const POLL_MS = 100;
const PROGRESS_MS = 1000;

/** Lets signal handlers and timers run between blocking FFI polls. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** File N of a rotation set: the first is `out` itself, then capture.000002.cbor.zst, ... */
export function rotatedPath(out: string, index: number): string {
  if (index === 1) return out;
  const stem = out.endsWith(".cbor.zst") ? out.slice(0, -".cbor.zst".length) : out;
  return `${stem}.${String(index).padStart(6, "0")}.cbor.zst`;
}

/**
 * A rotation that finds its next file already there (an earlier run's) must
 * not stop a recording hours in: without --force, refuse at the start.
 */
function assertSetPathsFree(out: string): void {
  const taken = rotatedPath(out, 2);
  if (existsSync(taken)) {
    throw new OutputError(taken, "exists, from an earlier rotated recording (use --force to overwrite the set, or another --out)");
  }
}

export async function record(opts: RecordOptions): Promise<RecordStats> {
  assertCanRecord();
  const object = await readBpfObject();
  const bootToWall = bootToWallOffsetNs();
  const wallNow = () => BigInt(Date.now()) * 1_000_000n;
  // Attach before creating the file, so a kernel-side failure leaves no file
  // behind. Records only arrive during poll/drain, after the writer exists.
  let writer: CaptureWriter | undefined;
  let decodeContext: DecodeContext | undefined;
  const { probe, attempts } = attachChosen(object, opts.hook, (bytes) => {
    const ev = toEvent(decodeRawEvent(bytes), decodeContext!);
    writer!.write(ev);
    opts.onEvent?.(ev);
  });
  decodeContext = { bootToWallNs: bootToWall, moduleFreeHooked: probe.plan.moduleFree, exeOf: exeCache() };
  const host = hostInfo();
  const files: string[] = [];
  let set = newCaptureSet();
  let fileOpenedMs = 0;
  const open = () => {
    const path = rotatedPath(opts.out, set.file_index);
    const header: CaptureHeader = {
      type: "header",
      format: "dmrec-capture",
      version: 1,
      dmrec_version: VERSION,
      host,
      hook: probe.plan.hook,
      module_free: probe.plan.moduleFree,
      find_module: probe.plan.findModule,
      clock: { boot_to_wall_ns: bootToWall },
      argv: opts.argv,
      start_ns: wallNow(),
      set,
    };
    writer = CaptureWriter.create(path, header, {
      force: opts.force,
      segmentEvents: opts.segmentEvents,
      segmentMs: opts.segmentMs,
      signKey: opts.signKey,
    });
    files.push(path);
    fileOpenedMs = Date.now();
    return writer;
  };

  let lost = 0;
  let seen = Object.fromEntries(LOSS_REASONS.map((r) => [r, 0n])) as LossCounters;
  const recordLosses = () => {
    const now = probe.lossCounters();
    for (const reason of LOSS_REASONS) {
      const count = Number(now[reason] - seen[reason]);
      if (count > 0) {
        const loss: LossRecord = { type: "loss", ts_ns: wallNow(), count, reason };
        writer!.write(loss);
        lost += count;
      }
    }
    seen = now;
  };
  // Totals of the files already closed; the open writer adds its own.
  const closedTotals = { events: 0, bytes: 0, segments: 0 };
  const stats = (): RecordStats => ({
    events: closedTotals.events + (writer?.stats.events ?? 0),
    lost,
    bytes: closedTotals.bytes + (writer?.stats.bytes ?? 0),
    segments: closedTotals.segments + (writer?.stats.segments ?? 0),
    files: [...files],
  });
  const rotateDue = () =>
    opts.rotateRequest.pending ||
    (opts.rotate.sizeBytes !== undefined && writer!.stats.bytes >= opts.rotate.sizeBytes) ||
    (opts.rotate.everyMs !== undefined && Date.now() - fileOpenedMs >= opts.rotate.everyMs);
  const rotate = () => {
    opts.rotateRequest.pending = false;
    const old = writer!;
    const { finalHash } = old.close();
    closedTotals.events += old.stats.events;
    closedTotals.bytes += old.stats.bytes;
    closedTotals.segments += old.stats.segments;
    const closed = files[files.length - 1]!;
    writer = undefined;
    set = nextCaptureSet(set, finalHash);
    open();
    const expired = opts.rotate.maxFiles === undefined ? [] : files.splice(0, Math.max(0, files.length - opts.rotate.maxFiles));
    const deleted: string[] = [];
    const kept: { file: string; why: string }[] = [];
    for (const f of expired) {
      // Deleting old evidence is a courtesy: failing at it must not stop the recording.
      try {
        unlinkSync(f);
        deleted.push(f);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") deleted.push(f);
        else kept.push({ file: f, why: (e as Error).message });
      }
    }
    opts.onRotate?.({ closed, opened: files[files.length - 1]!, deleted, kept });
  };

  try {
    if (!opts.force) assertSetPathsFree(opts.out);
    open();
    opts.onAttached?.({ plan: probe.plan, out: opts.out, attempts });

    const deadline = opts.durationMs === undefined ? Infinity : Date.now() + opts.durationMs;
    let nextProgress = Date.now() + PROGRESS_MS;
    while (!opts.stop.aborted && Date.now() < deadline) {
      probe.poll(Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
      recordLosses();
      writer!.tick(Date.now());
      if (rotateDue()) rotate();
      if (opts.onProgress && Date.now() >= nextProgress) {
        opts.onProgress(stats());
        nextProgress = Date.now() + PROGRESS_MS;
      }
      await yieldToEventLoop();
    }
    probe.drain();
    recordLosses();
    writer!.close();
    return stats();
  } finally {
    probe.close();
    writer?.abandon();
  }
}
