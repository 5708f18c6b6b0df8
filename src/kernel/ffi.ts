// Native bindings through bun:ffi: libbpf (1.0/1.1 API only) and the few libc
// calls the recorder needs (loader.ts adds the ring-buffer callback). record
// is a Bun-only command: nothing on the query/export path imports src/kernel/.
import { dlopen, JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import { KernelError } from "../errors.ts";

const LIBBPF_SYMBOLS = {
  libbpf_major_version: { args: [], returns: "u32" },
  libbpf_minor_version: { args: [], returns: "u32" },
  libbpf_set_print: { args: ["ptr"], returns: "ptr" },
  bpf_object__open_mem: { args: ["ptr", "u64", "ptr"], returns: "ptr" },
  bpf_object__load: { args: ["ptr"], returns: "i32" },
  bpf_object__close: { args: ["ptr"], returns: "void" },
  bpf_object__find_program_by_name: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_object__find_map_fd_by_name: { args: ["ptr", "ptr"], returns: "i32" },
  bpf_object__next_program: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_program__name: { args: ["ptr"], returns: "cstring" },
  bpf_program__set_autoload: { args: ["ptr", "bool"], returns: "i32" },
  bpf_program__attach: { args: ["ptr"], returns: "ptr" },
  bpf_link__destroy: { args: ["ptr"], returns: "i32" },
  bpf_map_lookup_elem: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  ring_buffer__new: { args: ["i32", "ptr", "ptr", "ptr"], returns: "ptr" },
  ring_buffer__poll: { args: ["ptr", "i32"], returns: "i32" },
  ring_buffer__consume: { args: ["ptr"], returns: "i32" },
  ring_buffer__free: { args: ["ptr"], returns: "void" },
} as const;

const LIBC_SYMBOLS = {
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
  vsnprintf: { args: ["ptr", "u64", "ptr", "ptr"], returns: "i32" },
  clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
} as const;

type Libbpf = ReturnType<typeof dlopen<typeof LIBBPF_SYMBOLS>>["symbols"];
type Libc = ReturnType<typeof dlopen<typeof LIBC_SYMBOLS>>["symbols"];

let libbpf: Libbpf | undefined;
let libc: Libc | undefined;

export const LIBBPF_SONAME = "libbpf.so.1";

/** libbpf, loaded on first use so that a missing library is one clear error. */
export function getLibbpf(): Libbpf {
  if (!libbpf) {
    try {
      libbpf = dlopen(LIBBPF_SONAME, LIBBPF_SYMBOLS).symbols;
    } catch (e) {
      throw new KernelError(
        `cannot load ${LIBBPF_SONAME} (${(e as Error).message.split("\n")[0]}); install it (Debian/Ubuntu: apt-get install libbpf1)`,
      );
    }
  }
  return libbpf;
}

export function getLibc(): Libc {
  libc ??= dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  return libc;
}

/** errno of the last failed libc/libbpf call on this thread, as "EPERM (Operation not permitted)". */
export function lastErrno(): { code: number; text: string } {
  const c = getLibc();
  const loc = c.__errno_location();
  const code = loc ? new Int32Array(copyFromC(loc, 4))[0]! : 0;
  return { code, text: String(c.strerror(code)) };
}

/** A pointer returned by C; bun:ffi types it as either form. */
export type CPointer = Pointer | bigint;

/** A copy of C memory: the original may change once we return to C. */
export function copyFromC(p: CPointer, size: number): ArrayBuffer {
  return toArrayBuffer(Number(p) as Pointer, 0, size).slice(0);
}

/** A NUL-terminated C string argument. */
export function cString(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
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
  const cb = new JSCallback(
    (_level: number, fmt: Pointer, args: Pointer) => {
      const n = getLibc().vsnprintf(buf, buf.length, fmt, args);
      if (n <= 0) return 0;
      const text = new TextDecoder().decode(buf.subarray(0, Math.min(n, buf.length - 1)));
      for (const line of text.split("\n")) if (line.trim()) sink(line.trimEnd());
      return 0;
    },
    { args: ["i32", "ptr", "ptr"], returns: "i32" },
  );
  getLibbpf().libbpf_set_print(cb.ptr);
  return {
    close() {
      getLibbpf().libbpf_set_print(null);
      cb.close();
    },
  };
}
