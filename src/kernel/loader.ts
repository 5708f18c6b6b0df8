// Opens the embedded BPF object, loads only the programs of the chosen hook,
// attaches them and hands each ring-buffer record to the caller.
import { JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import type { HookName } from "../event.ts";
import { KernelError } from "../errors.ts";
import { COUNTERS } from "./event_layout.ts";
import { captureLibbpfLog, cString, getLibbpf, getLibc, lastErrno, type CPointer } from "./ffi.ts";

/** The programs each hook needs; every other program in the object stays unloaded. */
export const HOOK_PROGRAMS: Partial<Record<HookName, string[]>> = {
  "raw-syscalls": ["raw_sys_enter", "raw_sys_exit"],
};

export interface LossCounters {
  ringbuf_full: bigint;
  inflight_full: bigint;
}

export interface AttachedProbe {
  readonly hook: HookName;
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

function errnoText(negErr: number): string {
  return String(getLibc().strerror(-negErr));
}

export function attachProbe(object: Uint8Array, hook: HookName, sink: RecordSink): AttachedProbe {
  const programs = HOOK_PROGRAMS[hook];
  if (!programs) throw new KernelError(`hook ${hook} is not supported by this build`);
  const bpf = getLibbpf();
  const log: string[] = [];
  const logCb = captureLibbpfLog((line) => {
    log.push(line);
    if (log.length > LOG_LINES_KEPT) log.shift();
  });
  const withLog = (msg: string) => (log.length ? `${msg}; libbpf said: ${log.slice(-3).join(" | ")}` : msg);

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
      hook,
      poll: (timeoutMs) => deliver(bpf.ring_buffer__poll(ring, timeoutMs), "ring_buffer__poll"),
      drain: () => deliver(bpf.ring_buffer__consume(ring), "ring_buffer__consume"),
      lossCounters: () => ({
        ringbuf_full: counter(COUNTERS.ringbuf_full),
        inflight_full: counter(COUNTERS.inflight_full),
      }),
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
