// What a run of items or segments holds, counted as docs/FORMAT.md's index
// entries and seal count it ("Segment trailer", "Seal"): events, loss records
// and the calls they lost, aggregates and the calls they count, and the
// events' time range. The writer builds its entries and seal with it; info
// and verify add up what they read with it and compare it with what the file
// claims.
import type { CaptureItem, SealInfo, SegmentInfo } from "../event.ts";
import { Range } from "./range.ts";

/** Totals as plain data, for reports. */
export interface Counted {
  segments: number;
  events: number;
  /** loss records, and the calls they count */
  losses: number;
  lostCalls: number;
  /** aggregate records, and the calls they count */
  aggregates: number;
  aggregatedCalls: number;
  /** clock records: steps of the wall clock while recording */
  clockSteps: number;
  /** the events' smallest and largest ts_ns; null without events */
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
}

export class Totals {
  segments = 0;
  events = 0;
  losses = 0;
  lostCalls = 0;
  aggregates = 0;
  aggregatedCalls = 0;
  clockSteps = 0;
  /** the events' smallest and largest ts_ns: loss records and aggregates are not in it */
  readonly ts = new Range();

  get items(): number {
    return this.events + this.losses + this.aggregates + this.clockSteps;
  }

  addItem(item: CaptureItem): void {
    if (item.type === "event") {
      this.events++;
      this.ts.add(item.ts_ns);
    } else if (item.type === "loss") {
      this.losses++;
      this.lostCalls += item.count;
    } else if (item.type === "aggregate") {
      this.aggregates++;
      this.aggregatedCalls += item.count;
    } else if (item.type === "clock") {
      this.clockSteps++;
    }
  }

  /** A segment, by its index entry. */
  addEntry(info: SegmentInfo): void {
    this.segments++;
    this.events += info.events;
    this.losses += info.losses;
    this.lostCalls += info.lost_calls;
    this.aggregates += info.aggregates;
    this.aggregatedCalls += info.aggregated_calls;
    this.clockSteps += info.clock_steps;
    this.ts.add(info.first_ts_ns);
    this.ts.add(info.last_ts_ns);
  }

  get counted(): Counted {
    const { segments, events, losses, lostCalls, aggregates, aggregatedCalls, clockSteps } = this;
    return { segments, events, losses, lostCalls, aggregates, aggregatedCalls, clockSteps, firstTsNs: this.ts.min, lastTsNs: this.ts.max };
  }

  /** Another run of items or segments. */
  add(o: Totals): void {
    this.segments += o.segments;
    this.events += o.events;
    this.losses += o.losses;
    this.lostCalls += o.lostCalls;
    this.aggregates += o.aggregates;
    this.aggregatedCalls += o.aggregatedCalls;
    this.clockSteps += o.clockSteps;
    this.ts.merge(o.ts);
  }

  /**
   * Where an index entry's or the seal's counts and times are not these:
   * [what, what it says, what these are], in the format's key order.
   */
  disagreements(claim: SegmentInfo | SealInfo): [string, unknown, unknown][] {
    const pairs: [string, unknown, unknown][] = [
      ["events", claim.events, this.events],
      ["loss records", claim.losses, this.losses],
      ["calls lost", claim.lost_calls, this.lostCalls],
      ["aggregates", claim.aggregates, this.aggregates],
      ["calls aggregated", claim.aggregated_calls, this.aggregatedCalls],
      ["clock steps", claim.clock_steps, this.clockSteps],
      ["first_ts_ns", claim.first_ts_ns, this.ts.min],
      ["last_ts_ns", claim.last_ts_ns, this.ts.max],
    ];
    return pairs.filter(([, said, found]) => said !== found);
  }
}
