// The kernel side's budgets and aggregate counts, from user space. The
// aggregate maps are double-buffered (bpf/dmrec.bpf.c): a harvest points the
// kernel side at the other half, waits until no program can still be writing
// the old one, then drains it. The wait is the kernel's own: updating an
// ARRAY_OF_MAPS slot returns only after synchronize_rcu(), i.e. once every
// non-sleepable BPF program that might use the old value has finished.
import { KernelError } from "../errors.ts";
import type { EventBudget } from "../event.ts";
import { getLibbpf, lastErrno } from "./ffi.ts";
import { decodeRawEvent, STRUCTS, type RawEvent } from "./layout.ts";

const ENOENT = 2;

/** The fds of the maps that take part, by their names in the object. */
export interface AggregateMapFds {
  control: number;
  totals: number;
  keys: number;
  keys0: number;
  keys1: number;
  procs0: number;
  procs1: number;
  budgets0: number;
  budgets1: number;
}

/** One period's counts, decoded just enough to be turned into aggregate records. */
export interface Harvest {
  /** one per call key that had aggregated calls, with its first call whole */
  calls: { count: number; firstBootNs: bigint; lastBootNs: bigint; first: RawEvent }[];
  /** one per (process, result) that found the key map full: its first call's struct dmrec_context and cgroup name */
  processes: { count: number; firstBootNs: bigint; lastBootNs: bigint; hook: number; ret: number; ctx: Uint8Array; cgroupName: Uint8Array }[];
  /** the calls that found even the process map full */
  overflow: { count: number; firstBootNs: bigint; lastBootNs: bigint } | null;
}

const KEY = STRUCTS.dmrec_agg_key;
const AGG = STRUCTS.dmrec_agg;
const PKEY = STRUCTS.dmrec_proc_key;
const PAGG = STRUCTS.dmrec_proc_agg;
const CTL = STRUCTS.dmrec_control;
const TOT = STRUCTS.dmrec_totals;

/** Entries read per batch call: any number works; fewer calls for a full map. */
const BATCH = 256;

export class AggregateMaps {
  private gen = 0;
  private readonly control = new DataView(new ArrayBuffer(CTL.size));
  private readonly zero = new Uint32Array(1);

  constructor(
    private readonly fds: AggregateMapFds,
    budget: EventBudget,
  ) {
    const c = CTL.fields;
    const v = this.control;
    v.setUint32(c.budget_key.offset, budget.key, true);
    v.setUint32(c.budget_process.offset, budget.process, true);
    v.setUint32(c.budget_global.offset, budget.global, true);
    v.setUint32(c.budget_toctou_process.offset, budget.toctou_process, true);
    v.setUint32(c.budget_toctou_global.offset, budget.toctou_global, true);
    this.writeControl();
  }

  /** Starts a new period and returns the counts of the one that ended. */
  harvest(): Harvest {
    const old = this.gen;
    this.gen = old ^ 1;
    this.writeControl();
    this.waitForPrograms(old);
    const keysFd = old ? this.fds.keys1 : this.fds.keys0;
    const procsFd = old ? this.fds.procs1 : this.fds.procs0;
    const budgetsFd = old ? this.fds.budgets1 : this.fds.budgets0;

    const calls: Harvest["calls"] = [];
    drain(keysFd, KEY.size, AGG.size, (_key, value) => {
      const v = view(value);
      const count = Number(v.getBigUint64(AGG.fields.count.offset, true));
      // Keys whose calls all went out as events only tracked their budget.
      if (count === 0) return;
      // A copy: the batch buffer is reused, and the record's fields are views.
      const first = value.slice(AGG.fields.first.offset, AGG.fields.first.offset + AGG.fields.first.size);
      calls.push({
        count,
        firstBootNs: v.getBigUint64(AGG.fields.first_ns.offset, true),
        lastBootNs: v.getBigUint64(AGG.fields.last_ns.offset, true),
        first: decodeRawEvent(first, false),
      });
    });
    const processes: Harvest["processes"] = [];
    drain(procsFd, PKEY.size, PAGG.size, (key, value) => {
      const v = view(value);
      const f = PAGG.fields;
      const cgroupLen = Math.min(v.getUint16(f.cgroup_name_len.offset, true), f.cgroup_name.size - 1);
      processes.push({
        count: Number(v.getBigUint64(f.count.offset, true)),
        firstBootNs: v.getBigUint64(f.first_ns.offset, true),
        lastBootNs: v.getBigUint64(f.last_ns.offset, true),
        hook: v.getUint8(f.hook.offset),
        ret: view(key).getInt32(PKEY.fields.ret.offset, true),
        ctx: value.slice(f.ctx.offset, f.ctx.offset + f.ctx.size),
        cgroupName: value.slice(f.cgroup_name.offset, f.cgroup_name.offset + cgroupLen),
      });
    });
    // Budgets only need emptying: a new period starts with all of them.
    drain(budgetsFd, 4, STRUCTS.dmrec_proc_budget.size, () => {});

    const t = this.readTotals(old);
    const count = Number(t.getBigUint64(TOT.fields.overflow_count.offset, true));
    const overflow = count
      ? {
          count,
          firstBootNs: t.getBigUint64(TOT.fields.overflow_first_ns.offset, true),
          lastBootNs: t.getBigUint64(TOT.fields.overflow_last_ns.offset, true),
        }
      : null;
    this.clearTotals(old);
    return { calls, processes, overflow };
  }

  private writeControl(): void {
    this.control.setUint32(CTL.fields.gen.offset, this.gen, true);
    this.zero[0] = 0;
    const err = getLibbpf().bpf_map_update_elem(this.fds.control, this.zero, new Uint8Array(this.control.buffer), 0);
    if (err < 0) throw new KernelError(`writing the budget control map failed: ${lastErrno().text}`);
  }

  /** Re-setting a map-in-map slot to the map it already holds: the kernel waits for running programs first. */
  private waitForPrograms(gen: number): void {
    const slot = Uint32Array.of(gen);
    const inner = Uint32Array.of(gen ? this.fds.keys1 : this.fds.keys0);
    const err = getLibbpf().bpf_map_update_elem(this.fds.keys, slot, inner, 0);
    if (err < 0) throw new KernelError(`waiting for the BPF programs (keys map update) failed: ${lastErrno().text}`);
  }

  private readTotals(gen: number): DataView {
    const out = new Uint8Array(TOT.size);
    if (getLibbpf().bpf_map_lookup_elem(this.fds.totals, Uint32Array.of(gen), out) < 0) {
      throw new KernelError(`reading the totals map failed: ${lastErrno().text}`);
    }
    return view(out);
  }

  private clearTotals(gen: number): void {
    if (getLibbpf().bpf_map_update_elem(this.fds.totals, Uint32Array.of(gen), new Uint8Array(TOT.size), 0) < 0) {
      throw new KernelError(`clearing the totals map failed: ${lastErrno().text}`);
    }
  }
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Reads and deletes every entry of a hash map no program writes any more. */
function drain(fd: number, keySize: number, valueSize: number, each: (key: Uint8Array, value: Uint8Array) => void): void {
  const bpf = getLibbpf();
  const keys = new Uint8Array(keySize * BATCH);
  const values = new Uint8Array(valueSize * BATCH);
  // The batch token of a hash map is a bucket index (u32); room for more.
  const token = new Uint8Array(8);
  const count = new Uint32Array(1);
  for (let first = true; ; first = false) {
    count[0] = BATCH;
    const err = bpf.bpf_map_lookup_and_delete_batch(fd, first ? null : token, token, keys, values, count, null);
    if (err < 0 && err !== -ENOENT) throw new KernelError(`draining an aggregate map failed: ${lastErrno().text}`);
    for (let i = 0; i < count[0]!; i++) {
      each(keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * valueSize, (i + 1) * valueSize));
    }
    if (err === -ENOENT) return;
  }
}
