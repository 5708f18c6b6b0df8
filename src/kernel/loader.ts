// Opens the embedded BPF object, loads only the programs of the chosen hook
// (and module_free and find_module when asked), sets the budget, attaches
// them, and hands out what the record loop reads: the two ring buffers, the
// aggregate maps, the loss counters.
import { readFileSync } from "node:fs";
import { LOSS_REASONS, HOOK_NAMES, type EventBudget, type HookName, type LossReason } from "../event.ts";
import { KernelError } from "../errors.ts";
import { AggregateMaps, type AggregateMapFds, type Harvest } from "./aggregates.ts";
import { captureLibbpfLog, cString, epollOver, getLibbpf, getLibc, lastErrno, withSignalsHeld, type CPointer } from "./ffi.ts";
import {
  checkFindModule,
  checkHook,
  checkModuleFree,
  FIND_MODULE_PROGRAM,
  HOOK_PROGRAMS,
  MODULE_FREE_PROGRAM,
} from "./hooks.ts";
import { COUNTERS } from "./layout.ts";
import { RingReader, type RecordSink } from "./ring.ts";

export type { Harvest } from "./aggregates.ts";
export type { RecordSink } from "./ring.ts";
export type LossCounters = Record<LossReason, bigint>;

export interface ProbePlan {
  hook: HookName;
  /** also attach module:module_free */
  moduleFree: boolean;
  /** also attach the find_module kprobe (the kernel's copy of the name on failed calls) */
  findModule: boolean;
}

export interface AttachedProbe {
  readonly plan: ProbePlan;
  /**
   * Hands up to `max` waiting records to `sink`, successful calls' ring
   * first, without waiting; returns how many. The bytes are only valid
   * during the call.
   */
  read(sink: RecordSink, max: number): number;
  /**
   * Hands every record written so far to `sink`, and none written after
   * this call: under a flood that never lets the rings empty, it still ends.
   */
  drain(sink: RecordSink): void;
  /** Sleeps until records wait (or the ring asks to be read), at most timeoutMs. */
  wait(timeoutMs: number): void;
  /** Bytes waiting in the rings. */
  pending(): number;
  /** Ends the budget period: the counts of failing calls aggregated since the last harvest. */
  harvest(): Harvest;
  /** Cumulative calls the kernel side could not report. */
  lossCounters(): LossCounters;
  /** Kernel memory each map holds (its fdinfo's memlock), by map name. */
  mapMemory(): Record<string, number>;
  close(): void;
}

const LOG_LINES_KEPT = 30;
/** libbpf's framing around a verifier log, which says nothing about the failure. */
const LOG_NOISE = /-- (BEGIN|END) PROG LOAD LOG --|^processed \d+ insns|^verification time/;

/** Longest a final drain waits for records still being written. */
const DRAIN_MS = 1000;

const AGGREGATE_MAPS = ["control", "totals", "keys", "keys0", "keys1", "procs0", "procs1", "budgets0", "budgets1"] as const;

function errnoText(negErr: number): string {
  return String(getLibc().strerror(-negErr));
}

/** A map's memlock, as the kernel accounts it (/proc/self/fdinfo/FD). */
function memlockOf(fd: number, name: string): number {
  let info: string;
  try {
    info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  } catch (e) {
    throw new KernelError(`reading /proc/self/fdinfo/${fd} (map ${name}) failed: ${(e as Error).message}`);
  }
  const m = /^memlock:\s+(\d+)$/m.exec(info);
  if (!m) throw new KernelError(`/proc/self/fdinfo/${fd} (map ${name}) has no memlock line`);
  return Number(m[1]);
}

export function attachProbe(object: Uint8Array, plan: ProbePlan, budget: EventBudget): AttachedProbe {
  const { hook } = plan;
  const programs = [
    ...HOOK_PROGRAMS[hook],
    ...(plan.moduleFree ? [MODULE_FREE_PROGRAM] : []),
    ...(plan.findModule ? [FIND_MODULE_PROGRAM] : []),
  ];
  const bpf = getLibbpf();
  const log: string[] = [];
  const logCb = captureLibbpfLog((line) => {
    log.push(line);
    if (log.length > LOG_LINES_KEPT) log.shift();
  });
  const withLog = (msg: string) => {
    const said = log.filter((l) => !LOG_NOISE.test(l)).slice(-4);
    return said.length ? `${msg}; libbpf said: ${said.join(" | ")}` : msg;
  };

  const links: CPointer[] = [];
  let obj: CPointer | null = null;
  const rings: RingReader[] = [];
  let epoll: ReturnType<typeof epollOver> | null = null;

  const close = () => {
    epoll?.close();
    epoll = null;
    for (const r of rings.splice(0)) r.close();
    for (const l of links.splice(0)) bpf.bpf_link__destroy(l);
    if (obj) bpf.bpf_object__close(obj);
    obj = null;
  };

  try {
    obj = bpf.bpf_object__open_mem(object, object.length, null);
    if (!obj) throw new KernelError(withLog(`cannot open the embedded BPF object: ${lastErrno().text}`));

    const found = new Set<string>();
    for (let p = bpf.bpf_object__next_program(obj, null); p; p = bpf.bpf_object__next_program(obj, p)) {
      const name = String(bpf.bpf_program__name(p));
      const wanted = programs.includes(name);
      if (wanted) found.add(name);
      bpf.bpf_program__set_autoload(p, wanted);
    }
    const missing = programs.filter((n) => !found.has(n));
    if (missing.length) throw new KernelError(`BPF object lacks program(s) ${missing.join(", ")}`);

    const loading = obj;
    const err = withSignalsHeld(() => bpf.bpf_object__load(loading));
    if (err < 0) throw new KernelError(withLog(`loading the BPF programs failed: ${errnoText(err)}`));

    const o = obj;
    const fdOf = (name: string) => {
      const fd = bpf.bpf_object__find_map_fd_by_name(o, cString(name));
      if (fd < 0) throw new KernelError(`BPF object lacks the ${name} map`);
      return fd;
    };
    const ringOf = (name: string) => {
      const map = bpf.bpf_object__find_map_by_name(o, cString(name));
      if (!map) throw new KernelError(`BPF object lacks the ${name} map`);
      return new RingReader(fdOf(name), bpf.bpf_map__max_entries(map));
    };
    // The successful calls' ring is read first: nothing may delay a real unload.
    rings.push(ringOf("events_ok"), ringOf("events"));
    epoll = epollOver(rings.map((r) => r.fd));
    const countersFd = fdOf("counters");
    // Set before anything is attached, so the first call already meets the budget.
    const aggregates = new AggregateMaps(
      Object.fromEntries(AGGREGATE_MAPS.map((n) => [n, fdOf(n)])) as unknown as AggregateMapFds,
      budget,
    );

    for (const name of programs) {
      const prog = bpf.bpf_object__find_program_by_name(o, cString(name));
      const link = prog ? bpf.bpf_program__attach(prog) : null;
      if (!link) throw new KernelError(withLog(`attaching ${name} (hook ${hook}) failed: ${lastErrno().text}`));
      links.push(link);
    }

    const key = new Uint32Array(1);
    const value = new BigUint64Array(1);
    const counter = (index: number) => {
      key[0] = index;
      if (bpf.bpf_map_lookup_elem(countersFd, key, value) < 0) {
        throw new KernelError(`reading the loss counters failed: ${lastErrno().text}`);
      }
      return value[0]!;
    };

    const waiter = epoll;
    return {
      plan,
      read: (sink, max) => {
        let n = 0;
        for (const r of rings) n += r.read(sink, max - n);
        return n;
      },
      drain: (sink) => {
        const marks = rings.map((r) => r.mark());
        // A record reserved before the mark may still be being written on
        // another CPU (busy): it commits within microseconds, but a bound
        // keeps a kernel gone wrong from hanging the stop.
        const giveUp = Date.now() + DRAIN_MS;
        rings.forEach((r, i) => {
          while (!r.readTo(marks[i]!) && Date.now() < giveUp) r.read(sink, Infinity, marks[i]);
        });
      },
      wait: (timeoutMs) => waiter.wait(timeoutMs),
      pending: () => rings.reduce((sum, r) => sum + r.pending(), 0),
      harvest: () => aggregates.harvest(),
      mapMemory: () => {
        const bytes: Record<string, number> = {};
        for (let m = bpf.bpf_object__next_map(o, null); m; m = bpf.bpf_object__next_map(o, m)) {
          const name = String(bpf.bpf_map__name(m));
          // .rodata and .bss are libbpf's own maps, of a few bytes: counted like the rest.
          bytes[name] = memlockOf(bpf.bpf_map__fd(m), name);
        }
        return bytes;
      },
      lossCounters: () =>
        Object.fromEntries(LOSS_REASONS.map((reason) => [reason, counter(COUNTERS[reason])])) as LossCounters,
      close: () => {
        close();
        logCb.close();
      },
    };
  } catch (e) {
    close();
    logCb.close();
    throw e;
  }
}

export type HookChoice = HookName | "auto";

export interface HookAttempt {
  plan: ProbePlan;
  ok: boolean;
  why: string;
}

const describePlan = (p: ProbePlan) =>
  `${p.hook}${p.moduleFree ? "+module_free" : ""}${p.findModule ? "+find_module" : ""}`;

/**
 * Attaches the requested hook, or with "auto" the first of HOOK_NAMES
 * that attaches, plus module_free and the find_module kprobe where the kernel
 * offers them (each dropped, and said so in `attempts`, if only it fails).
 */
export function attachChosen(
  object: Uint8Array,
  choice: HookChoice,
  budget: EventBudget,
): { probe: AttachedProbe; attempts: HookAttempt[] } {
  getLibbpf(); // a missing library is one error, not one per hook
  const moduleFree = checkModuleFree().available;
  const findModule = checkFindModule().available;
  const extras = [
    { moduleFree, findModule },
    { moduleFree, findModule: false },
    { moduleFree: false, findModule: false },
  ].filter((x, i, all) => all.findIndex((y) => y.moduleFree === x.moduleFree && y.findModule === x.findModule) === i);
  const attempts: HookAttempt[] = [];
  for (const hook of choice === "auto" ? HOOK_NAMES : [choice]) {
    const check = checkHook(hook);
    if (!check.available && choice === "auto") {
      attempts.push({ plan: { hook, moduleFree: false, findModule: false }, ok: false, why: check.why });
      continue;
    }
    for (const extra of extras) {
      const plan = { hook, ...extra };
      try {
        const probe = attachProbe(object, plan, budget);
        attempts.push({ plan, ok: true, why: "attached" });
        return { probe, attempts };
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        attempts.push({ plan, ok: false, why: check.available ? e.message : `${check.why} (${e.message})` });
      }
    }
  }
  const reasons = attempts.map((a) => `${describePlan(a.plan)}: ${a.why}`).join("; ");
  throw new KernelError(choice === "auto" ? `no hook could be attached: ${reasons}` : `hook ${choice} cannot be used: ${reasons}`);
}
