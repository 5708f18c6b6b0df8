// query and export over large captures on every core: worker threads (scan_worker.ts)
// decompress, decode, filter and render segments, while the main thread walks the file,
// merges and writes. A capture's segments go to the workers in turn, up to a few per
// worker ahead, and their results are taken back in file order through one ring per
// worker (byte_ring.ts), so the reader's damage policy, the reorder windows and the merge
// are those of the one-thread path (reader.ts, merge.ts) and the output is the same byte
// for byte. One capture at a time uses the workers; captures read alongside it (several
// hosts' over the same hours) are rendered in the main thread.
import { ContentError } from "../capture/items.ts";
import { readCaptureWith, type SegmentDecoder } from "../capture/reader.ts";
import type { SegmentStep } from "../capture/walk.ts";
import type { DamagedInputError } from "../errors.ts";
import type { CaptureHeader, CaptureItem, SegmentItem } from "../event.ts";
import { createRing, RingReader } from "./byte_ring.ts";
import { callsOf, keeps, type EventFilter, type FilterOptions } from "./filter.ts";
import { recordText, type LineFormat } from "./lines.ts";
import { merge, type MergeOptions, type Reading, type Source } from "./merge.ts";
import { startWorker } from "../runtime.ts";
import type { WorkerMessage } from "./scan_worker.ts";

/**
 * A record rendered to its text: a string from this thread, or bytes `at` to `end` of a
 * worker's result (UTF-8), no view made of them per record. A count's records carry only calls.
 */
export interface LineRecord {
  type: "line";
  ts_ns: bigint;
  calls: number;
  /** call written() once the text is out */
  text: string | Payload;
  at: number;
  end: number;
}

/** A worker's result, held by its records until the last of them is written. */
export interface Payload {
  bytes: Uint8Array;
  left: number;
}

/**
 * A record's text has been written: once all of its result's have, that result's memory
 * is given back. It is outside the collector's heap, which would let segment after
 * segment of it pile up before collecting any. One result late: the output may still
 * hold the last run of texts it was handed until its next write (output.ts).
 */
let finished: Payload | null = null;
export function written(r: LineRecord): void {
  if (typeof r.text === "string" || --r.text.left > 0) return;
  const buffer = finished?.bytes.buffer as (ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }) | undefined;
  buffer?.transfer?.(0);
  finished = r.text;
}

/** Each worker's ring: a few segments' worth of rendered text. */
const RING_BYTES = 4 << 20;
/** Segments of the first capture decoded here before the workers are started. */
const DECODED_HERE_FIRST = 2;
/** Segments sent ahead per worker. */
const AHEAD_PER_WORKER = 2;
/** How long a worker may take to load its modules. */
const READY_WITHIN_MS = 30_000;
/** Marks a worker's report of its own failure (a bug) in place of a result's length. */
const WORKER_FAILED = 0xffffffff;

export interface ParallelOptions {
  workers: number;
  format: LineFormat | "count";
  /** the options the filter was parsed from, and the time it was parsed at: each worker parses them again */
  filterOptions: FilterOptions;
  nowMs: number;
}

class WorkerPool {
  private readonly workers: { worker: Worker; ring: RingReader }[] = [];
  private turn = 0;
  private jobs = 0;
  /** parts of results read while waiting for another job's */
  private readonly early = new Map<number, Uint8Array[]>();
  /** jobs of a capture left early: their results' parts are dropped as they come */
  private readonly abandoned = new Set<number>();
  private readonly head = new Uint8Array(8);
  private readonly headView = new DataView(this.head.buffer);
  constructor(n: number, init: Omit<Extract<WorkerMessage, { t: "init" }>, "t" | "ring">) {
    for (let i = 0; i < n; i++) {
      const ring = createRing(RING_BYTES);
      const worker = startWorker("query/scan_worker.ts");
      worker.postMessage({ t: "init", ring, ...init } satisfies WorkerMessage);
      this.workers.push({ worker, ring: new RingReader(ring) });
    }
    // Each says it is ready, once its modules are loaded: one that cannot start would
    // leave this thread waiting for ever (its error event never comes while it waits).
    for (const w of this.workers) {
      if (!w.ring.readWithin(this.head.subarray(0, 4), READY_WITHIN_MS)) {
        this.close();
        throw new Error(`a decoding worker did not start within ${READY_WITHIN_MS} ms`);
      }
    }
  }

  get size(): number {
    return this.workers.length;
  }

  post(m: WorkerMessage): void {
    for (const w of this.workers) w.worker.postMessage(m);
  }

  /** Sends the segment to the next worker; the thunk gives its records, in order, once it is done. */
  start(step: SegmentStep, capture: number, pending: Set<number>): () => Iterable<LineRecord> {
    const job = this.jobs++;
    const w = this.turn++ % this.workers.length;
    // The walk's buffer is reused for the next frame: the worker gets a copy of its own.
    const frame = step.bytes.slice();
    const m: WorkerMessage = { t: "job", job, capture, frame, contentSize: step.contentSize, maxContentBytes: step.maxContentBytes };
    this.workers[w]!.worker.postMessage(m, [frame.buffer]);
    pending.add(job);
    const take = () => this.take(job, w);
    return function* () {
      for (;;) {
        const part = parse(take());
        yield* part.records;
        if (part.last) {
          pending.delete(job);
          if (part.failure) throw part.failure;
          return;
        }
      }
    };
  }

  /** A capture is left with results still to come: they are dropped. */
  abandon(jobs: Iterable<number>): void {
    for (const job of jobs) {
      const kept = this.early.get(job);
      this.early.delete(job);
      // Unless its last part is in already, the rest is still to come.
      if (!kept?.some(isLast)) this.abandoned.add(job);
    }
  }

  /** The next part of job `job`'s result, from worker `w`. */
  private take(job: number, w: number): Uint8Array {
    const kept = this.early.get(job);
    if (kept?.length) return kept.shift()!;
    const ring = this.workers[w]!.ring;
    for (;;) {
      ring.read(this.head);
      const got = this.headView.getUint32(0, true);
      const length = this.headView.getUint32(4, true);
      if (length === WORKER_FAILED) {
        ring.read(this.head.subarray(0, 4));
        const text = new Uint8Array(this.headView.getUint32(0, true));
        ring.read(text);
        throw new Error(`decoding worker: ${new TextDecoder().decode(text)}`);
      }
      const payload = new Uint8Array(length);
      ring.read(payload);
      if (got === job) return payload;
      if (this.abandoned.has(got)) {
        if (isLast(payload)) this.abandoned.delete(got);
        continue;
      }
      const parts = this.early.get(got);
      if (parts) parts.push(payload);
      else this.early.set(got, [payload]);
    }
  }

  close(): void {
    for (const w of this.workers) {
      w.ring.close();
      w.worker.terminate();
    }
  }
}

const isLast = (part: Uint8Array) => part[0] === 1;

interface Part {
  records: LineRecord[];
  last: boolean;
  /** the segment's damage, in its last part */
  failure: ContentError | null;
}

/**
 * A part of a worker's result (scan_worker.ts has the layout): its records, and in the
 * last part the segment's damage if any. Records' texts are views of the part (see
 * written()). An array, not a generator: one resume less per record on the thread that
 * merges.
 */
function parse(part: Uint8Array): Part {
  const v = new DataView(part.buffer, part.byteOffset, part.byteLength);
  const last = part[0] === 1;
  const count = v.getUint32(1, true);
  const from: Payload = { bytes: part, left: count };
  const calls = v.getFloat64(5, true);
  let at = 13;
  let failure: ContentError | null = null;
  if (part[at++] === 1) {
    const n = v.getUint32(at, true);
    const f = JSON.parse(new TextDecoder().decode(part.subarray(at + 4, at + 4 + n))) as Pick<ContentError, "stage" | "text" | "item" | "at">;
    failure = new ContentError(f.stage, f.text, f.item, f.at);
    at += 4 + n;
  }
  const records: LineRecord[] = [];
  if (calls > 0) records.push({ type: "line", ts_ns: 0n, calls, text: "", at: 0, end: 0 });
  let text = at + 20 * count;
  for (let i = 0; i < count; i++, at += 20) {
    const end = text + v.getUint32(at + 16, true);
    records.push({ type: "line", ts_ns: v.getBigInt64(at, true), calls: v.getFloat64(at + 8, true), text: from, at: text, end });
    text = end;
  }
  return { records, last, failure };
}

/** The records of items decoded in this thread: as a worker renders them. */
function* renderHere(items: Iterable<CaptureItem>, header: () => CaptureHeader, filter: EventFilter, losses: boolean, format: LineFormat | "count") {
  const render = format === "count" ? null : recordText(format);
  let calls = 0;
  let failure: ContentError | null = null;
  try {
    for (const item of items) {
      if (item.type === "header" || !keeps(filter, item, losses)) continue;
      const n = callsOf(item);
      if (render) yield { type: "line" as const, ts_ns: item.ts_ns, calls: n, text: render(item as SegmentItem, header()), at: 0, end: 0 };
      else calls += n;
    }
  } catch (e) {
    if (!(e instanceof ContentError)) throw e;
    failure = e;
  }
  // Counting, the calls before a bad item count, as a worker reports them.
  if (!render && calls > 0) yield { type: "line" as const, ts_ns: 0n, calls, text: "", at: 0, end: 0 };
  if (failure) throw failure;
}

/**
 * merge.ts's merge over records rendered to text (or, counting, to calls per segment),
 * the first capture opened and each one after it that opens alone decoded by `workers`
 * threads. The pool is closed when the iteration ends.
 */
export function* mergedLines(
  files: string[],
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts: MergeOptions & ParallelOptions,
): Generator<LineRecord> {
  const losses = opts.losses === true;
  // Started with the first segment past the first few: a query the index narrows to a
  // segment or two, or a small file, is done before workers would have loaded.
  const lazy: { pool: WorkerPool | null } = { pool: null };
  const pool = () => (lazy.pool ??= new WorkerPool(opts.workers, { format: opts.format, filter: opts.filterOptions, nowMs: opts.nowMs, losses }));
  const state = new Map<Source, { capture: number; pending: Set<number> }>();
  let captures = 0;
  /** the capture whose segments go to the workers */
  let lead: number | null = null;
  const reading: Reading<LineRecord> = {
    open(source, skipSegment) {
      const capture = captures++;
      const pending = new Set<number>();
      state.set(source, { capture, pending });
      const here = (items: Iterable<CaptureItem>) => renderHere(items, () => source.header!, filter, losses, opts.format);
      const inThread: SegmentDecoder<LineRecord> = { depth: 0, start: (step) => () => here(step.items()), inThread: here };
      if (lead !== null) return readCaptureWith(source.file, { skipSegment }, inThread);
      lead = capture;
      let decodedHere = 0;
      let pooled = false;
      const decoder: SegmentDecoder<LineRecord> = {
        // Read by the reader at each step: 0 (take each segment at once) until the workers have it.
        get depth() {
          return pooled ? AHEAD_PER_WORKER * pool().size : 0;
        },
        start(step) {
          if (!pooled && decodedHere++ < DECODED_HERE_FIRST) return inThread.start(step);
          if (!pooled) {
            pooled = true;
            pool().post({ t: "header", capture, header: source.header! });
          }
          return pool().start(step, capture, pending);
        },
        inThread: here,
      };
      return readCaptureWith(source.file, { skipSegment }, decoder);
    },
    keep: () => true,
    weigh: (r) => 64 + (typeof r.text === "string" ? 2 * r.text.length : r.end - r.at),
    close(source) {
      const s = state.get(source)!;
      state.delete(source);
      if (lead !== s.capture) return;
      lead = null;
      lazy.pool?.abandon(s.pending);
      lazy.pool?.post({ t: "forget", capture: s.capture });
    },
  };
  try {
    yield* merge(files, filter, damaged, opts, { source: null }, reading);
  } finally {
    lazy.pool?.close();
  }
}
