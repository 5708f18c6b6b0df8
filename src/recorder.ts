// `dmrec record` as a library: attach the probe, turn each ring-buffer record
// into an event, write it to the capture, account for every loss, and close
// the capture cleanly when asked to stop.
import { CaptureWriter } from "./capture/writer.ts";
import type { CaptureHeader, DmrecEvent, LossRecord } from "./event.ts";
import { toEvent } from "./event_decode.ts";
import { decodeRawEvent } from "./kernel/event_layout.ts";
import { attachChosen, type HookAttempt, type HookChoice, type LossCounters, type ProbePlan } from "./kernel/loader.ts";
import { readBpfObject } from "./kernel/bpf_object.ts";
import { bootToWallOffsetNs, hostInfo } from "./kernel/host.ts";
import { assertCanRecord } from "./kernel/privileges.ts";
import { exeOf } from "./kernel/procfs.ts";
import { VERSION } from "./version.ts";

export interface RecordOptions {
  out: string;
  force: boolean;
  hook: HookChoice;
  /** stop by itself after this long */
  durationMs?: number;
  segmentEvents?: number;
  segmentMs?: number;
  argv: string[];
  /** aborted by the caller (SIGINT/SIGTERM) to stop cleanly */
  stop: AbortSignal;
  /** once attached, before the first poll */
  onAttached?: (info: { plan: ProbePlan; out: string; attempts: HookAttempt[] }) => void;
  onEvent?: (ev: DmrecEvent) => void;
  /** about once a second */
  onProgress?: (stats: RecordStats) => void;
}

export interface RecordStats {
  events: number;
  lost: number;
  bytes: number;
  segments: number;
}

const POLL_MS = 100;
const PROGRESS_MS = 1000;

/** Lets signal handlers and timers run between blocking FFI polls. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function record(opts: RecordOptions): Promise<RecordStats> {
  assertCanRecord();
  const object = await readBpfObject();
  const bootToWall = bootToWallOffsetNs();
  const wallNow = () => BigInt(Date.now()) * 1_000_000n;
  // Attach before creating the file, so a kernel-side failure leaves no file
  // behind. Records only arrive during poll/drain, after the writer exists.
  let writer: CaptureWriter | undefined;
  const { probe, attempts } = attachChosen(object, opts.hook, (bytes) => {
    const ev = toEvent(decodeRawEvent(bytes), { bootToWallNs: bootToWall, moduleFreeHooked: probe.plan.moduleFree, exeOf });
    writer!.write(ev);
    opts.onEvent?.(ev);
  });
  const header: CaptureHeader = {
    type: "header",
    format: "dmrec-capture",
    version: 1,
    dmrec_version: VERSION,
    host: hostInfo(),
    hook: probe.plan.hook,
    module_free: probe.plan.moduleFree,
    find_module: probe.plan.findModule,
    clock: { boot_to_wall_ns: bootToWall },
    argv: opts.argv,
    start_ns: wallNow(),
  };

  let lost = 0;
  let seen: LossCounters = { ringbuf_full: 0n, inflight_full: 0n, no_exit: 0n };
  const recordLosses = () => {
    const now = probe.lossCounters();
    for (const reason of ["ringbuf_full", "inflight_full", "no_exit"] as const) {
      const count = Number(now[reason] - seen[reason]);
      if (count > 0) {
        const loss: LossRecord = { type: "loss", ts_ns: wallNow(), count, reason };
        writer!.write(loss);
        lost += count;
      }
    }
    seen = now;
  };
  const stats = (): RecordStats => ({
    events: writer?.stats.events ?? 0,
    lost,
    bytes: writer?.stats.bytes ?? 0,
    segments: writer?.stats.segments ?? 0,
  });

  try {
    writer = CaptureWriter.create(opts.out, header, {
      force: opts.force,
      segmentEvents: opts.segmentEvents,
      segmentMs: opts.segmentMs,
    });
    opts.onAttached?.({ plan: probe.plan, out: opts.out, attempts });

    const deadline = opts.durationMs === undefined ? Infinity : Date.now() + opts.durationMs;
    let nextProgress = Date.now() + PROGRESS_MS;
    while (!opts.stop.aborted && Date.now() < deadline) {
      probe.poll(Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
      recordLosses();
      writer.tick(Date.now());
      if (opts.onProgress && Date.now() >= nextProgress) {
        opts.onProgress(stats());
        nextProgress = Date.now() + PROGRESS_MS;
      }
      await yieldToEventLoop();
    }
    probe.drain();
    recordLosses();
    writer.close();
    return stats();
  } finally {
    probe.close();
    writer?.abandon();
  }
}
