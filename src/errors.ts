// Typed errors with the exit code the CLI maps them to, and every exit code
// dmrec has in one table (README.md, "Exit codes"): commands, doctor and
// verify's verdicts all take theirs from here.

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  damagedInput: 4,
  output: 5,
  privilege: 6,
  kernel: 7,
  /** verify: bytes were changed (a hash, an index entry or the seal disagrees) */
  modified: 10,
  /** verify: a segment was removed, duplicated or reordered */
  reordered: 11,
  /** verify: the file ends inside a frame */
  truncated: 12,
  /** verify: no seal */
  unsealed: 13,
  /** verify: the seal's signature does not verify with --pubkey */
  badSignature: 14,
  /** verify: --pubkey was given but the file is not signed */
  unsigned: 15,
  /** verify: a file of a rotation set is missing */
  missingFile: 16,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class DmrecError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong arguments or options. */
export class UsageError extends DmrecError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** A capture that cannot be read at all: missing, unreadable, or not a capture. */
export class InputError extends DmrecError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`, ExitCode.badInput);
  }
}

/**
 * A file that was read but is not a capture this dmrec reads: empty, another
 * kind of file, another major version. `verify` calls it not_a_capture, where
 * an InputError of another kind (missing, no permission) is unreadable.
 */
export class NotCaptureError extends InputError {}

/** A capture readable up to a point: truncated or corrupted after `offset`. */
export class DamagedInputError extends DmrecError {
  constructor(
    readonly file: string,
    readonly offset: number,
    problem: string,
  ) {
    super(`${file}: ${problem} at byte ${offset}`, ExitCode.damagedInput);
  }
}

/** The output cannot be created or written. */
export class OutputError extends DmrecError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`, ExitCode.output);
  }
}

export class PrivilegeError extends DmrecError {
  constructor(message: string) {
    super(message, ExitCode.privilege);
  }
}

/** libbpf missing, or the BPF object failed to open, load or attach. */
export class KernelError extends DmrecError {
  constructor(message: string) {
    super(message, ExitCode.kernel);
  }
}
