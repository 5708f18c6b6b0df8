// Opens the embedded BPF object, loads only the programs of the chosen hook
// (and module_free when asked), attaches them and hands each ring-buffer
// record to the caller.
import { JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import { LOSS_REASONS, type HookName, type LossReason } from "../event.ts";
import { KernelError } from "../errors.ts";
import { COUNTERS } from "./event_layout.ts";
import {
  checkFindModule,
  checkHook,
  checkModuleFree,
  FIND_MODULE_PROGRAM,
  HOOK_PREFERENCE,
  HOOK_PROGRAMS,
  MODULE_FREE_PROGRAM,
} from "./hooks.ts";
import { captureLibbpfLog, cString, getLibbpf, getLibc, lastErrno, type CPointer } from "./ffi.ts";

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
  /** Waits up to timeoutMs for records and delivers them; returns how many. */
  poll(timeoutMs: number): number;
  /** Delivers every record already in the ring buffer without waiting. */
  drain(): number;
  /** Cumulative calls the kernel side could not report. */
  lossCounters(): LossCounters;
  close(): void;
}

/** Receives each record synchronously; the bytes are only valid during the call. */
export type RecordSink = (record: Uint8Array) => void;

const LOG_LINES_KEPT = 30;
/** libbpf's framing around a verifier log, which says nothing about the failure. */
const LOG_NOISE = /-- (BEGIN|END) PROG LOAD LOG --|^processed \d+ insns|^verification time/;

function errnoText(negErr: number): string {
  return String(getLibc().strerror(-negErr));
}

export function attachProbe(object: Uint8Array, plan: ProbePlan, sink: RecordSink): AttachedProbe {
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
  let rb: CPointer | null = null;
  let sampleCb: JSCallback | null = null;
  let sinkError: unknown;

  const close = () => {
    if (rb) bpf.ring_buffer__free(rb);
    rb = null;
    for (const l of links.splice(0)) bpf.bpf_link__destroy(l);
    if (obj) bpf.bpf_object__close(obj);
    obj = null;
    sampleCb?.close();
    sampleCb = null;
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

    const err = bpf.bpf_object__load(obj);
    if (err < 0) throw new KernelError(withLog(`loading the BPF programs failed: ${errnoText(err)}`));

    for (const name of programs) {
      const prog = bpf.bpf_object__find_program_by_name(obj, cString(name));
      const link = prog ? bpf.bpf_program__attach(prog) : null;
      if (!link) throw new KernelError(withLog(`attaching ${name} (hook ${hook}) failed: ${lastErrno().text}`));
      links.push(link);
    }

    const eventsFd = bpf.bpf_object__find_map_fd_by_name(obj, cString("events"));
    const countersFd = bpf.bpf_object__find_map_fd_by_name(obj, cString("counters"));
    if (eventsFd < 0 || countersFd < 0) throw new KernelError("BPF object lacks the events or counters map");

    // Plain (not threadsafe) callback: libbpf calls it synchronously inside poll.
    sampleCb = new JSCallback(
      (_ctx: Pointer, data: Pointer, size: bigint | number) => {
        try {
          sink(new Uint8Array(toArrayBuffer(data, 0, Number(size))));
          return 0;
        } catch (e) {
          sinkError = e;
          return -1;
        }
      },
      { args: ["ptr", "ptr", "u64"], returns: "i32" },
    );
    rb = bpf.ring_buffer__new(eventsFd, sampleCb.ptr, null, null);
    if (!rb) throw new KernelError(`creating the ring buffer reader failed: ${lastErrno().text}`);

    const key = new Uint32Array(1);
    const value = new BigUint64Array(1);
    const counter = (index: number) => {
      key[0] = index;
      if (bpf.bpf_map_lookup_elem(countersFd, key, value) < 0) {
        throw new KernelError(`reading the loss counters failed: ${lastErrno().text}`);
      }
      return value[0]!;
    };

    const deliver = (n: number, what: string) => {
      if (sinkError !== undefined) {
        const e = sinkError;
        sinkError = undefined;
        throw e;
      }
      // EINTR is a signal arriving during epoll_wait: the caller handles it.
      if (n < 0 && n !== -4) throw new KernelError(`${what} failed: ${errnoText(n)}`);
      return Math.max(n, 0);
    };

    const ring = rb;
    return {
      plan,
      poll: (timeoutMs) => deliver(bpf.ring_buffer__poll(ring, timeoutMs), "ring_buffer__poll"),
      drain: () => deliver(bpf.ring_buffer__consume(ring), "ring_buffer__consume"),
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
 * Attaches the requested hook, or with "auto" the first of HOOK_PREFERENCE
 * that attaches, plus module_free and the find_module kprobe where the kernel
 * offers them (each dropped, and said so in `attempts`, if only it fails).
 */
export function attachChosen(
  object: Uint8Array,
  choice: HookChoice,
  sink: RecordSink,
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
  for (const hook of choice === "auto" ? HOOK_PREFERENCE : [choice]) {
    const check = checkHook(hook);
    if (!check.available && choice === "auto") {
      attempts.push({ plan: { hook, moduleFree: false, findModule: false }, ok: false, why: check.why });
      continue;
    }
    for (const extra of extras) {
      const plan = { hook, ...extra };
      try {
        const probe = attachProbe(object, plan, sink);
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
