// `dmrec record` as a library. Top to bottom: attach the probe (before any
// file exists, so a kernel-side failure leaves none behind), open the capture,
// then loop: take a bounded batch of ring records, write each as an event,
// and once per period harvest the kernel's aggregate counts and loss counters
// into the capture and close the segment, so that a `kill -9` loses at most
// the open segment's events and counts. No batch runs long enough to hold up
// a signal, a rotation or --duration under any flood.
import type { KeyObject } from "node:crypto";
import { DEFAULT_SEGMENT_MS, type NewHeader } from "../capture/writer.ts";
import {
  LOSS_REASONS,
  type AggregateRecord,
  type BudgetRates,
  type CaptureHeader,
  type ClockRecord,
  type DmrecEvent,
  type EventBudget,
  type LossRecord,
} from "../event.ts";
import { readBpfObject } from "../kernel/bpf_object.ts";
import { EventDecoder } from "../kernel/decode.ts";
import { hostInfo, sampleClock } from "../kernel/host.ts";
import { decodeRawEvent } from "../kernel/layout.ts";
import { attachChosen, type AttachedProbe, type HookAttempt, type HookChoice, type LossCounters, type ProbePlan } from "../kernel/loader.ts";
import { assertCanRecord } from "../kernel/privileges.ts";
import { releaseExecutablePages } from "../kernel/ffi.ts";
import { collectGarbage, yieldToEventLoop } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { CaptureFiles, type RotationOptions, type RotationReport } from "./files.ts";

export type { RotationOptions } from "./files.ts";


export interface RecordOptions {
  out: string;
  force: boolean;
  hook: HookChoice;
  /** stop by itself after this long */
  durationMs?: number;
  segmentEvents?: number;
  segmentMs?: number;
  budget: BudgetRates;
  rotate: RotationOptions;
  /** set by the caller (SIGHUP) to start a new file; reset when done */
  rotateRequest: { pending: boolean };
  /** long-term Ed25519 key that endorses each file's first chain key */
  signKey?: KeyObject;
  argv: string[];
  /** aborted by the caller (SIGINT/SIGTERM) to stop cleanly */
  stop: AbortSignal;
  /** once attached, before the first read */
  /** `fingerprint`: the first file's first key, for `verify --pin` */
  onAttached?: (info: { plan: ProbePlan; out: string; attempts: HookAttempt[]; fingerprint: string }) => void;
  /** each event and aggregate, as written */
  onItem?: (item: DmrecEvent | AggregateRecord | ClockRecord) => void;
  onRotate?: (info: RotationReport) => void;
  /** about once a second */
  onProgress?: (stats: RecordStats) => void;
}

export interface RecordStats {
  events: number;
  /** calls counted in aggregate records */
  aggregated: number;
  lost: number;
  bytes: number;
  segments: number;
  /** the files of the set still on disk, oldest first */
  files: string[];
}

/** Longest wait for records when none are waiting. */
const POLL_MS = 100;
/** Longest stretch spent reading records before timers and signals get a turn. */
const SLICE_MS = 20;
const READ_BATCH = 4096;
const PROGRESS_MS = 1000;
/** A boot-to-wall offset moving by more than this is a step of the wall clock (NTP slews by under 0.5 ms/s). */
const CLOCK_STEP_NS = 10_000_000n;
/**
 * When to give back the executable's pages (releaseExecutablePages): once start-up is
 * behind (the loop has closed segments, harvested and reported progress, so what it
 * touches again is resident), and again once the JIT has compiled the loop, which touches
 * the compilers' code once. Idle RSS, measured: 71 MiB before, 39 after the first, 45-49
 * steady after the second (a single release crept back to 52).
 */
const RELEASE_PAGES_AT_MS = [3_000, 60_000];
/** Each harvest waits for an RCU grace period: not more often than this. */
const MIN_PERIOD_MS = 100;

/** The budget the kernel enforces per harvest period, from rates per second. */
export function budgetPerPeriod(rates: BudgetRates, periodMs: number): EventBudget {
  const per = (rate: number) => (rate === 0 ? 0 : Math.max(1, Math.ceil((rate * periodMs) / 1000)));
  return {
    period_ms: periodMs,
    key: per(rates.key),
    process: per(rates.process),
    global: per(rates.global),
    toctou_process: per(rates.toctou_process),
    toctou_global: per(rates.toctou_global),
  };
}

export async function record(opts: RecordOptions): Promise<RecordStats> {
  assertCanRecord();
  const object = await readBpfObject();
  const periodMs = Math.max(MIN_PERIOD_MS, opts.segmentMs ?? DEFAULT_SEGMENT_MS);
  const budget = budgetPerPeriod(opts.budget, periodMs);
  const { probe, attempts } = attachChosen(object, opts.hook, budget);
  let files: CaptureFiles | undefined;
  try {
    const started = sampleClock();
    const bootToWallNs = started.offsetNs;
    const decoder = new EventDecoder({ bootToWallNs, moduleFreeHooked: probe.plan.moduleFree });
    const host = hostInfo();
    const header = (set: CaptureHeader["set"]): NewHeader => ({
      type: "header",
      format: "dmrec-capture",
      dmrec_version: VERSION,
      host,
      hook: probe.plan.hook,
      module_free: probe.plan.moduleFree,
      find_module: probe.plan.findModule,
      clock: { boot_to_wall_ns: bootToWallNs },
      budget,
      argv: opts.argv,
      start_ns: BigInt(Date.now()) * 1_000_000n,
      set,
    });
    const out = new CaptureFiles(opts, header);
    files = out;
    opts.onAttached?.({ plan: probe.plan, out: opts.out, attempts, fingerprint: out.fingerprint });

    const onRecord = (bytes: Uint8Array) => {
      const ev = decoder.event(decodeRawEvent(bytes));
      out.write(ev);
      opts.onItem?.(ev);
    };
    const accounts = new Accounts(probe, decoder, (item) => {
      out.write(item);
      if (item.type === "aggregate") opts.onItem?.(item);
    });
    const stats = (): RecordStats => {
      const s = out.stats;
      return { events: s.events, aggregated: s.aggregatedCalls, lost: accounts.lost, bytes: s.bytes, segments: s.segments, files: s.files };
    };
    /** What the kernel side holds goes into the open segment, which is then written. */
    const settle = () => {
      accounts.collect();
      out.flush();
    };

    const clock = new ClockWatch(started, decoder, (item) => {
      out.write(item);
      opts.onItem?.(item);
    });
    // The loop's own timers run on a monotonic clock: a wall clock set back an hour must
    // not hold harvests back an hour (nor --duration). Segments and rotation keep theirs.
    const deadline = opts.durationMs === undefined ? Infinity : performance.now() + opts.durationMs;
    let nextHarvest = performance.now() + periodMs;
    let nextProgress = performance.now() + PROGRESS_MS;
    const releaseAt = RELEASE_PAGES_AT_MS.map((ms) => performance.now() + ms);
    while (!opts.stop.aborted && performance.now() < deadline) {
      // Before the ring is read: what it holds entered before this sample.
      clock.check();
      const sliceEnd = performance.now() + SLICE_MS;
      let read: number;
      do read = probe.read(onRecord, READ_BATCH);
      while (read === READ_BATCH && performance.now() < sliceEnd);
      const now = performance.now();
      if (now >= nextHarvest) {
        settle();
        nextHarvest = now + periodMs;
      }
      const wallNow = Date.now();
      out.tick(wallNow);
      if (opts.rotateRequest.pending || out.rotationDue(wallNow)) {
        opts.rotateRequest.pending = false;
        if (out.rotatable) {
          settle();
          opts.onRotate?.(out.rotate());
        }
      }
      if (opts.onProgress && now >= nextProgress) {
        opts.onProgress(stats());
        nextProgress = now + PROGRESS_MS;
      }
      // Only with the ring empty: the release takes a few ms, and a flood is no time to lose them.
      if (releaseAt.length && now >= releaseAt[0]! && read === 0) {
        releaseAt.shift();
        collectGarbage();
        releaseExecutablePages();
      }
      // A signal that came while JS ran has its handler run here; one that comes during
      // the wait ends it (EINTR). Nothing may run between the two, or a stop waits POLL_MS.
      await yieldToEventLoop();
      if (opts.stop.aborted) break;
      if (read < READ_BATCH && !opts.rotateRequest.pending) probe.wait(Math.min(POLL_MS, nextHarvest - now, deadline - now));
    }
    // What was emitted before the stop, then what was counted.
    probe.drain(onRecord);
    accounts.collect();
    out.close();
    return stats();
  } finally {
    probe.close();
    files?.abandon();
  }
}

/**
 * Watches the wall clock against the boot clock: a step of more than CLOCK_STEP_NS since
 * the offset in force is written as a clock record, and calls that entered from then on
 * take the new offset. What the recorder reads before a sample entered before it, so
 * only calls between two samples (one read loop apart) may take the old offset after
 * the step.
 */
class ClockWatch {
  private last: { bootNs: bigint; offsetNs: bigint };
  private offsetNs: bigint;

  constructor(
    started: { bootNs: bigint; offsetNs: bigint },
    private readonly decoder: EventDecoder,
    private readonly write: (item: ClockRecord) => void,
  ) {
    this.last = started;
    this.offsetNs = started.offsetNs;
  }

  check(): void {
    const s = sampleClock();
    const step = s.offsetNs - this.offsetNs;
    if (step > CLOCK_STEP_NS || step < -CLOCK_STEP_NS) {
      this.write({
        type: "clock",
        ts_ns: s.bootNs + s.offsetNs,
        boot_ns: s.bootNs,
        prev_boot_ns: this.last.bootNs,
        old_boot_to_wall_ns: this.offsetNs,
        boot_to_wall_ns: s.offsetNs,
      });
      this.decoder.clockStepped(s.bootNs, s.offsetNs);
      this.offsetNs = s.offsetNs;
    }
    this.last = s;
  }
}

/**
 * Turns what the kernel side counted instead of emitting into capture items:
 * aggregates from each harvest, loss records from increases of the loss
 * counters.
 */
class Accounts {
  lost = 0;
  private seen: LossCounters;

  constructor(
    private readonly probe: AttachedProbe,
    private readonly decoder: EventDecoder,
    private readonly write: (item: AggregateRecord | LossRecord) => void,
  ) {
    this.seen = Object.fromEntries(LOSS_REASONS.map((r) => [r, 0n])) as LossCounters;
  }

  collect(): void {
    const h = this.probe.harvest();
    const d = this.decoder;
    for (const c of h.calls) this.write(d.callAggregate(c, c.first));
    for (const p of h.processes) this.write(d.processAggregate(p, p.hook, p.ctx, p.cgroupName, p.ret));
    if (h.overflow) this.write(d.overflowAggregate(h.overflow, this.probe.plan.hook));

    const now = this.probe.lossCounters();
    const ts_ns = BigInt(Date.now()) * 1_000_000n;
    for (const reason of LOSS_REASONS) {
      const count = Number(now[reason] - this.seen[reason]);
      if (count > 0) {
        this.write({ type: "loss", ts_ns, count, reason });
        this.lost += count;
      }
    }
    this.seen = now;
  }
}
