// Native bindings: libbpf (1.0/1.1 API only) and the few libc calls the recorder
// needs (mapping ring buffers, waiting on them), through the FFI of the runtime it runs
// on (native.ts). Nothing on the query/export path imports src/kernel/.
import { readFileSync, realpathSync } from "node:fs";
import { KernelError } from "../errors.ts";
import { isBun } from "../runtime.ts";
import type { CPointer, Functions, NativeBinding } from "./native.ts";

export type { CPointer } from "./native.ts";

const native: NativeBinding = isBun ? (await import("./native_bun.ts")).binding : (await import("./native_deno.ts")).binding;

const LIBBPF_SYMBOLS = {
  libbpf_major_version: { args: [], returns: "u32" },
  libbpf_minor_version: { args: [], returns: "u32" },
  libbpf_set_print: { args: ["ptr"], returns: "ptr" },
  bpf_object__open_mem: { args: ["buf", "u64", "ptr"], returns: "ptr" },
  bpf_object__load: { args: ["ptr"], returns: "i32" },
  bpf_object__close: { args: ["ptr"], returns: "void" },
  bpf_object__find_program_by_name: { args: ["ptr", "buf"], returns: "ptr" },
  bpf_object__find_map_fd_by_name: { args: ["ptr", "buf"], returns: "i32" },
  bpf_object__find_map_by_name: { args: ["ptr", "buf"], returns: "ptr" },
  bpf_map__max_entries: { args: ["ptr"], returns: "u32" },
  bpf_object__next_map: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_map__name: { args: ["ptr"], returns: "cstring" },
  bpf_map__fd: { args: ["ptr"], returns: "i32" },
  bpf_object__next_program: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_program__name: { args: ["ptr"], returns: "cstring" },
  bpf_program__set_autoload: { args: ["ptr", "bool"], returns: "i32" },
  bpf_program__attach: { args: ["ptr"], returns: "ptr" },
  bpf_link__destroy: { args: ["ptr"], returns: "i32" },
  bpf_map_lookup_elem: { args: ["i32", "buf", "buf"], returns: "i32" },
  bpf_map_update_elem: { args: ["i32", "buf", "buf", "u64"], returns: "i32" },
  bpf_map_lookup_and_delete_batch: { args: ["i32", "buf", "buf", "buf", "buf", "buf", "ptr"], returns: "i32" },
} as const;

const LIBC_SYMBOLS = {
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
  vsnprintf: { args: ["buf", "u64", "ptr", "ptr"], returns: "i32" },
  clock_gettime: { args: ["i32", "buf"], returns: "i32" },
  sysconf: { args: ["i32"], returns: "i64" },
  mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "u64" },
  munmap: { args: ["ptr", "u64"], returns: "i32" },
  madvise: { args: ["ptr", "u64", "i32"], returns: "i32" },
  epoll_create1: { args: ["i32"], returns: "i32" },
  epoll_ctl: { args: ["i32", "i32", "i32", "buf"], returns: "i32" },
  epoll_wait: { args: ["i32", "buf", "i32", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  pthread_sigmask: { args: ["i32", "buf", "buf"], returns: "i32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
  poll: { args: ["buf", "u64", "i32"], returns: "i32" },
} as const;

type Libbpf = Functions<typeof LIBBPF_SYMBOLS>;
type Libc = Functions<typeof LIBC_SYMBOLS>;

let libbpf: Libbpf | undefined;
let libc: Libc | undefined;

export const LIBBPF_SONAME = "libbpf.so.1";

/** libbpf, loaded on first use so that a missing library is one clear error. */
export function getLibbpf(): Libbpf {
  if (!libbpf) {
    try {
      libbpf = native.open(LIBBPF_SONAME, LIBBPF_SYMBOLS);
    } catch (e) {
      throw new KernelError(
        `cannot load ${LIBBPF_SONAME} (${(e as Error).message.split("\n")[0]}); install it (Debian/Ubuntu: apt-get install libbpf1)`,
      );
    }
  }
  return libbpf;
}

export function getLibc(): Libc {
  libc ??= native.open("libc.so.6", LIBC_SYMBOLS);
  return libc;
}

/** errno of the last failed libc/libbpf call on this thread, as "EPERM (Operation not permitted)". */
export function lastErrno(): { code: number; text: string } {
  const c = getLibc();
  const loc = c.__errno_location();
  const code = loc ? new Int32Array(copyFromC(loc, 4))[0]! : 0;
  return { code, text: String(c.strerror(code)) };
}

/** A copy of C memory: the original may change once we return to C. */
export function copyFromC(p: CPointer, size: number): ArrayBuffer {
  return native.memory(p, size).slice(0);
}

/** A NUL-terminated C string argument. */
export function cString(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

/** Shared memory mapped from a file descriptor (a BPF ring buffer), and how to let it go. */
export interface Mapping {
  readonly buffer: ArrayBuffer;
  unmap(): void;
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 2n ** 64n - 1n;
const SC_PAGESIZE = 30;

export function pageSize(): number {
  return Number(getLibc().sysconf(SC_PAGESIZE));
}

/** mmap(fd, offset) of `length` bytes, read-only or read-write, as an ArrayBuffer over that memory (no copy). */
export function mapShared(fd: number, length: number, offset: number, writable: boolean): Mapping {
  const c = getLibc();
  const addr = c.mmap(null, length, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, offset);
  if (addr === MAP_FAILED) throw new KernelError(`mapping the ring buffer (fd ${fd}) failed: ${lastErrno().text}`);
  const ptr = native.pointer(addr);
  return { buffer: native.memory(ptr, length), unmap: () => void c.munmap(ptr, length) };
}

const MADV_PAGEOUT = 21;

/**
 * Gives back the pages of the executable's own read-only mappings (the runtime's code,
 * the bundle): most were touched once, at start-up, and an idle recorder never touches
 * them again. The kernel drops them from this process, and from the page cache where
 * no other process maps them; a page touched later is read back in. Linux 5.4 and later;
 * on an older kernel the advice fails and nothing happens.
 */
export function releaseExecutablePages(): void {
  const exe = realpathSync("/proc/self/exe");
  const c = getLibc();
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    // "start-end perms offset dev inode path"; only private mappings nobody writes.
    const m = /^([0-9a-f]+)-([0-9a-f]+) r-.p \S+ \S+ \d+\s+(.*)$/.exec(line);
    if (!m || m[3] !== exe) continue;
    const start = BigInt(`0x${m[1]}`);
    c.madvise(native.pointer(start), Number(BigInt(`0x${m[2]}`) - start), MADV_PAGEOUT);
  }
}

const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;

/** An epoll set over some descriptors: wait() sleeps until one is readable or the time is up. */
export function epollOver(fds: number[]): { wait(timeoutMs: number): void; close(): void } {
  const c = getLibc();
  const epfd = c.epoll_create1(0);
  if (epfd < 0) throw new KernelError(`epoll_create1 failed: ${lastErrno().text}`);
  // struct epoll_event is 12 bytes on x86_64 (packed) and 16 elsewhere: room for either.
  const event = new Uint8Array(16);
  new DataView(event.buffer).setUint32(0, EPOLLIN, true);
  for (const fd of fds) {
    if (c.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, event) < 0) {
      const why = lastErrno().text;
      c.close(epfd);
      throw new KernelError(`epoll_ctl on fd ${fd} failed: ${why}`);
    }
  }
  const ready = new Uint8Array(16 * fds.length);
  return {
    // EINTR (a signal) ends the wait early, which is what the caller wants.
    wait: (timeoutMs) => void c.epoll_wait(epfd, ready, fds.length, Math.max(0, Math.round(timeoutMs))),
    close: () => void c.close(epfd),
  };
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/** flock(fd, LOCK_EX | LOCK_NB): false when another open file holds the lock. */
export function lockExclusive(fd: number): boolean {
  return getLibc().flock(fd, LOCK_EX | LOCK_NB) === 0;
}

const POLLOUT = 4;

/**
 * Waits until `fd` can be written: Bun's standard output is non-blocking, and
 * a pipe to a slow reader (ssh) is full now and then. The recording waits
 * with it; what the kernel side cannot hand over meanwhile is counted as lost.
 */
export function waitWritable(fd: number): void {
  // struct pollfd { int fd; short events; short revents; }
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLOUT, true);
  getLibc().poll(pfd, 1, -1);
}

const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
/** glibc's sigset_t: 1024 bits. */
const SIGSET_BYTES = 128;

/**
 * Runs `fn` with every signal held back on this thread, then delivers what
 * came meanwhile. The verifier gives up with EAGAIN when a signal is pending
 * (a profiler's timer, a Ctrl-C, a runtime's own signals), and a large
 * program takes it a tenth of a second.
 */
export function withSignalsHeld<T>(fn: () => T): T {
  const c = getLibc();
  const all = new Uint8Array(SIGSET_BYTES).fill(0xff);
  const old = new Uint8Array(SIGSET_BYTES);
  c.pthread_sigmask(SIG_BLOCK, all, old);
  try {
    return fn();
  } finally {
    c.pthread_sigmask(SIG_SETMASK, old, null);
  }
}

const CLOCK_REALTIME = 0;
const CLOCK_BOOTTIME = 7;

export function clockNs(clock: "realtime" | "boottime"): bigint {
  const ts = new BigInt64Array(2);
  getLibc().clock_gettime(clock === "realtime" ? CLOCK_REALTIME : CLOCK_BOOTTIME, ts);
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

/**
 * Routes libbpf's diagnostics (verifier logs, attach failures) into `sink`
 * instead of stderr, so they can be attached to the error that explains them.
 * The callback formats the va_list with libc's vsnprintf.
 */
export function captureLibbpfLog(sink: (line: string) => void): { close(): void } {
  // One message can hold a whole verifier log, whose last lines say what failed.
  const buf = new Uint8Array(1 << 20);
  const cb = native.callback({ args: ["i32", "ptr", "ptr"], returns: "i32" }, (_level: number, fmt: CPointer, args: CPointer) => {
    const n = getLibc().vsnprintf(buf, buf.length, fmt, args);
    if (n <= 0) return 0;
    const text = new TextDecoder().decode(buf.subarray(0, Math.min(n, buf.length - 1)));
    for (const line of text.split("\n")) if (line.trim()) sink(line.trimEnd());
    return 0;
  });
  getLibbpf().libbpf_set_print(cb.pointer);
  return {
    close() {
      getLibbpf().libbpf_set_print(null);
      cb.close();
    },
  };
}
