// A bounded reorder buffer for one capture's items. A recorder writes an event when the
// call returns but an aggregate only when it harvests the kernel's counters (about once a
// second), so an aggregate follows events that came after its first call; holding a
// window of items and releasing the earliest puts it back in time order.

/**
 * Items held per capture before the earliest is released. An aggregate lags up to a
 * harvest period (a second by default) behind its first call, so the window restores
 * time order as long as a capture records fewer individual events than this per period:
 * the kernel's budgets turn a flood of failing calls into aggregates, and let a process
 * have 64 events a second by default. Held items outlive the garbage collector's young
 * generation, so the window costs more memory and time than its items' size: measured
 * on a full scan of 1M events, 16,384 items took 286 MiB and 9.5 s, 4,096 167 MiB and
 * 8.8 s, none 137 MiB and 7.2 s.
 */
export const REORDER_WINDOW = 4_096;

/**
 * And at most this many bytes of items per capture (as `weigh` estimates them), so that
 * a crafted file of huge items cannot make the window hold REORDER_WINDOW of them; real items
 * never come near it.
 */
export const REORDER_WINDOW_BYTES = 16 * 1024 * 1024;

interface Held<T> {
  item: T;
  /** arrival number: equal times come out in arrival (file) order */
  seq: number;
}

const before = <T extends { ts_ns: bigint }>(a: Held<T>, b: Held<T>) =>
  a.item.ts_ns < b.item.ts_ns || (a.item.ts_ns === b.item.ts_ns && a.seq < b.seq);

export interface WindowLimits<T> {
  /** items held at most */
  items: number;
  /** estimated bytes held at most, with `weigh` estimating an item's */
  bytes?: number;
  weigh?: (item: T) => number;
}

/**
 * Holds items within `limits` and releases the earliest (`ts_ns`, then arrival) when
 * over. An item earlier than one already released comes out next: beyond the window the
 * order is best effort, but nothing is dropped.
 *
 * Items in order go to a sorted run (O(1) in and out); items that arrive late go to a
 * min-heap (O(log capacity)), so even a file written in reverse costs O(n log capacity).
 */
export class ReorderWindow<T extends { ts_ns: bigint }> {
  // The run: items in order from `head` on, with their arrival numbers beside them
  // (parallel arrays: no allocation per item on the common path).
  private run: (T | undefined)[] = [];
  private runSeq: number[] = [];
  private head = 0;
  private heap: Held<T>[] = [];
  private seq = 0;
  private weight = 0;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly weigh: (item: T) => number;

  constructor(limits: WindowLimits<T>) {
    this.maxItems = limits.items;
    this.maxBytes = limits.bytes ?? Infinity;
    this.weigh = limits.weigh ?? (() => 0);
  }

  get size(): number {
    return this.run.length - this.head + this.heap.length;
  }

  /** estimated bytes held */
  get bytes(): number {
    return this.weight;
  }

  /** Adds an item; then take overflow() until it returns undefined. */
  push(item: T): void {
    this.weight += this.weigh(item);
    const seq = this.seq++;
    const run = this.run;
    if (run.length === this.head || run[run.length - 1]!.ts_ns <= item.ts_ns) {
      run.push(item);
      this.runSeq.push(seq);
    } else {
      this.heapPush({ item, seq });
    }
  }

  /** Releases the earliest held item while the window is over a limit. */
  overflow(): T | undefined {
    return this.size > this.maxItems || this.weight > this.maxBytes ? this.shift() : undefined;
  }

  /** Releases the earliest held item, or undefined when empty. */
  shift(): T | undefined {
    const item = this.earliest();
    if (item !== undefined) this.weight -= this.weigh(item);
    return item;
  }

  private earliest(): T | undefined {
    const top = this.heap[0];
    const first = this.run.length > this.head ? this.run[this.head]! : undefined;
    if (top !== undefined) {
      const topFirst =
        first === undefined ||
        top.item.ts_ns < first.ts_ns ||
        (top.item.ts_ns === first.ts_ns && top.seq < this.runSeq[this.head]!);
      if (topFirst) return this.heapPop().item;
    }
    if (first === undefined) return undefined;
    this.run[this.head++] = undefined;
    // Cut released slots off in batches: O(1) amortised, unlike a shift() per item.
    if (this.head >= 1024 && this.head * 2 >= this.run.length) {
      this.run.splice(0, this.head);
      this.runSeq.splice(0, this.head);
      this.head = 0;
    }
    return first;
  }

  private heapPush(held: Held<T>): void {
    const h = this.heap;
    let i = h.push(held) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(held, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = held;
  }

  private heapPop(): Held<T> {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= h.length) break;
      if (child + 1 < h.length && before(h[child + 1]!, h[child]!)) child++;
      if (!before(h[child]!, last)) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
    return top;
  }
}
