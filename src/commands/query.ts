// `dmrec query` and `dmrec export`: read captures, filter, render.
import { closeSync, writeSync } from "node:fs";
import { readCapture } from "../capture/reader.ts";
import { openNewFile } from "../capture/writer.ts";
import { DamagedInputError, ExitCode, OutputError } from "../errors.ts";
import type { DmrecEvent, SegmentInfo } from "../event.ts";
import { matches, parseFilter, segmentMayMatch, type EventFilter, type FilterOptions } from "../query/filter.ts";
import { createRenderer, type Format } from "../query/render.ts";

export interface QueryCommandOptions {
  files: string[];
  filter: FilterOptions;
  limit?: number;
  format: Format;
  count: boolean;
  /** export: a file to create instead of stdout */
  out?: string;
  force?: boolean;
}

const FLUSH_BYTES = 64 * 1024;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Events of several captures, merged in time order (each capture is read in its
 * own order). A damaged capture yields what is intact and its damage goes
 * into `damaged`; the others go on.
 */
async function* mergedEvents(files: string[], filter: EventFilter, damaged: DamagedInputError[]): AsyncGenerator<DmrecEvent> {
  const heads = await Promise.all(
    files.map(async (file) => {
      const it = eventsOf(file, filter, damaged);
      return { it, next: await it.next() };
    }),
  );
  for (;;) {
    let best: (typeof heads)[number] | undefined;
    for (const h of heads) {
      if (h.next.done) continue;
      if (!best || h.next.value.ts_ns < (best.next.value as DmrecEvent).ts_ns) best = h;
    }
    if (!best) return;
    yield best.next.value as DmrecEvent;
    best.next = await best.it.next();
  }
}

async function* eventsOf(file: string, filter: EventFilter, damaged: DamagedInputError[]): AsyncGenerator<DmrecEvent> {
  // The index lets the reader skip segments without a possible match.
  const skipSegment = (seg: SegmentInfo) => !segmentMayMatch(filter, seg);
  try {
    for await (const item of readCapture(file, { skipSegment })) if (item.type === "event") yield item;
  } catch (e) {
    if (!(e instanceof DamagedInputError)) throw e;
    damaged.push(e);
  }
}

/** Buffered writes to a file descriptor; a closed pipe (`| head`) ends output quietly. */
function fdSink(fd: number, name: string) {
  let buf = "";
  let closed = false;
  const flush = () => {
    if (closed || buf === "") return;
    const bytes = Buffer.from(buf);
    buf = "";
    for (let off = 0; off < bytes.length; ) {
      try {
        off += writeSync(fd, bytes, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A non-blocking stdout (a parent's pipe) that is full: wait, then retry.
        if (code === "EAGAIN") Atomics.wait(pause, 0, 0, 1);
        else if (code === "EPIPE") return void (closed = true);
        else throw new OutputError(name, (e as Error).message);
      }
    }
  };
  return {
    write: (chunk: string) => {
      buf += chunk;
      if (buf.length >= FLUSH_BYTES) flush();
    },
    flush,
    get closed() {
      return closed;
    },
  };
}

export async function queryCommand(o: QueryCommandOptions): Promise<number> {
  const filter = parseFilter(o.filter, new Date());
  const damaged: DamagedInputError[] = [];
  const events = mergedEvents(o.files, filter, damaged);
  // Opens every capture: one that cannot be read fails before any output.
  let next = await events.next();
  const fd = o.out === undefined ? 1 : openNewFile(o.out, { force: o.force ?? false });
  try {
    const out = fdSink(fd, o.out ?? "stdout");
    const renderer = o.count ? undefined : createRenderer(o.format, out.write);
    let n = 0;
    for (; !next.done; next = await events.next()) {
      if (!matches(filter, next.value)) continue;
      n++;
      renderer?.event(next.value);
      if (out.closed || n === o.limit) break;
    }
    await events.return(undefined);
    if (renderer) renderer.end();
    else out.write(`${n}\n`);
    out.flush();
  } finally {
    if (o.out !== undefined) closeSync(fd);
  }
  // Everything intact has been written; now say what was not.
  const [first, ...others] = damaged;
  if (first) {
    if (others.length) first.message += `; also damaged: ${others.map((d) => d.file).join(", ")}`;
    throw first;
  }
  return ExitCode.ok;
}
