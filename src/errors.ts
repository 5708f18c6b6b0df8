// Typed errors with the exit code the CLI maps them to (README.md, "Exit codes").

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  damagedInput: 4,
  output: 5,
  privilege: 6,
  kernel: 7,
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

/** A capture that cannot be read at all: missing, empty, not a capture. */
export class InputError extends DmrecError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`, ExitCode.badInput);
  }
}

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
