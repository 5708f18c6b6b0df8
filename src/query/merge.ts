// The events of several captures as one stream in time order, for query and
// export. Each capture is read in its own order; memory holds one event per
// capture.
import { readCapture } from "../capture/reader.ts";
import { DamagedInputError } from "../errors.ts";
import type { DmrecEvent, SegmentInfo } from "../event.ts";
import { segmentMayMatch, type EventFilter } from "./filter.ts";

function* eventsOf(file: string, filter: EventFilter, damaged: DamagedInputError[]): Generator<DmrecEvent> {
  // The index lets the reader skip segments without a possible match.
  const skipSegment = (seg: SegmentInfo) => !segmentMayMatch(filter, seg);
  try {
    for (const item of readCapture(file, { skipSegment })) if (item.type === "event") yield item;
  } catch (e) {
    if (!(e instanceof DamagedInputError)) throw e;
    damaged.push(e);
  }
}

/**
 * Opens every capture before yielding anything, so that one that cannot be
 * read fails before any output. A damaged capture yields what is intact and
 * its damage goes into `damaged`; the others go on. Ending the iteration
 * early closes every capture.
 */
export function* mergedEvents(files: string[], filter: EventFilter, damaged: DamagedInputError[]): Generator<DmrecEvent> {
  const heads: { it: Generator<DmrecEvent>; next: IteratorResult<DmrecEvent> }[] = [];
  try {
    for (const file of files) {
      const it = eventsOf(file, filter, damaged);
      heads.push({ it, next: it.next() });
    }
    for (;;) {
      let best: (typeof heads)[number] | undefined;
      for (const h of heads) {
        if (h.next.done) continue;
        if (!best || h.next.value.ts_ns < (best.next.value as DmrecEvent).ts_ns) best = h;
      }
      if (!best) return;
      yield best.next.value as DmrecEvent;
      best.next = best.it.next();
    }
  } finally {
    for (const h of heads) h.it.return(undefined);
  }
}
