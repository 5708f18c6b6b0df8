// Names for the raw numbers a delete_module call carries: errno values and
// open(2)-style flag bits, as asm-generic defines them (x86_64 uses these).

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
  8: "ENOEXEC", 9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
  14: "EFAULT", 15: "ENOTBLK", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV",
  20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 25: "ENOTTY",
  26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 31: "EMLINK",
  32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG", 37: "ENOLCK",
  38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 61: "ENODATA", 75: "EOVERFLOW",
  95: "EOPNOTSUPP", 110: "ETIMEDOUT", 512: "ERESTARTSYS", 513: "ERESTARTNOINTR",
  514: "ERESTARTNOHAND", 516: "ERESTART_RESTARTBLOCK",
};

/** Aliases a user may type for --result; EWOULDBLOCK is EAGAIN on Linux. */
const ERRNO_ALIASES: Record<string, number> = { EWOULDBLOCK: 11, EDEADLOCK: 35 };

const ERRNO_VALUES: Record<string, number> = Object.fromEntries(
  Object.entries(ERRNO_NAMES).map(([n, name]) => [name, Number(n)]),
);

/** "ENOENT" for -2 or 2; "E123" for a value without a name; null for 0. */
export function errnoName(ret: number): string | null {
  if (ret === 0) return null;
  const n = Math.abs(ret);
  return ERRNO_NAMES[n] ?? `E${n}`;
}

/** The positive errno value for a name such as "ENOENT", or undefined. */
export function errnoValue(name: string): number | undefined {
  const upper = name.toUpperCase();
  return ERRNO_VALUES[upper] ?? ERRNO_ALIASES[upper];
}

// Octal values from asm-generic/fcntl.h; delete_module looks at O_NONBLOCK
// (ignored since 3.13) and O_TRUNC (force); rmmod also passes O_EXCL.
const FLAG_BITS: [number, string][] = [
  [0o1, "O_WRONLY"], [0o2, "O_RDWR"], [0o100, "O_CREAT"], [0o200, "O_EXCL"],
  [0o400, "O_NOCTTY"], [0o1000, "O_TRUNC"], [0o2000, "O_APPEND"], [0o4000, "O_NONBLOCK"],
];

export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;
export const O_EXCL = 0o200;

/** Decoded flag names; bits without a name become one hex entry so nothing is hidden. */
export function flagsNames(flags: number): string[] {
  const names: string[] = [];
  let rest = flags >>> 0;
  for (const [bit, name] of FLAG_BITS) {
    if (rest & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names;
}
