// The decoded event, as written to a capture and as query/export see it.
// Key names are a user-facing contract (SPEC.md, "An event"); docs/FORMAT.md
// documents each one.

/** Best first, the order `--hook auto` tries them in: the kprobe sees every kernel; tracepoints are a stable ABI; raw_syscalls always fire. */
export const HOOK_NAMES = ["kprobe", "tracepoint", "raw-syscalls"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export const TOCTOU_REASONS = ["entry!=exit", "entry!=kernel", "exit!=kernel"] as const;
export type ToctouReason = (typeof TOCTOU_REASONS)[number];

/**
 * What the calling task ran, read in the kernel at the call. Null throughout in files
 * written before dmrec read them, in aggregates of scope process and all, and each
 * where the kernel had none (a task without an mm).
 */
export interface ProcessImage {
  /** the executable's inode and device ("major:minor"): a binary replaced under the same path shows */
  exe_inode: bigint | null;
  exe_dev: string | null;
  /** the executable had no links left */
  exe_deleted: boolean | null;
  /** its path was longer than kept: exe is the end of it */
  exe_truncated: boolean | null;
  /** its path is outside the task's root (or on a detached mount) */
  exe_unreachable: boolean | null;
  /** the parent's executable, as exe */
  parent_exe: string | null;
  /** the command line from the task's argument area; null when it could not be read */
  argv: Uint8Array[] | null;
  /** null when read (or there was none), else the negative errno of the read */
  argv_err: number | null;
  /** the argument area was longer than kept: argv is its start, its last argument maybe cut */
  argv_truncated: boolean | null;
  /** the controlling terminal's name as the kernel has it ("pts0" for /dev/pts/0), null when none */
  tty: string | null;
}

/** A ProcessImage of nothing known: aggregates of scopes process and all. */
export const NO_IMAGE: Readonly<ProcessImage> = {
  exe_inode: null,
  exe_dev: null,
  exe_deleted: null,
  exe_truncated: null,
  exe_unreachable: null,
  parent_exe: null,
  argv: null,
  argv_err: null,
  argv_truncated: null,
  tty: null,
};

export interface DmrecEvent extends ProcessImage {
  type: "event";
  /** wall-clock ns since the Unix epoch at entry, derived from boot_ns */
  ts_ns: bigint;
  boot_ns: bigint;
  duration_ns: bigint;
  hook: HookName;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  /** audit login uid; 4294967295 when unset (or the kernel has no audit) */
  loginuid: number;
  /** audit session id; 4294967295 when unset */
  sessionid: number;
  /** text when the kernel's comm is valid UTF-8, else the raw bytes */
  comm: string | Uint8Array;
  parent_comm: string | Uint8Array;
  /** the executable's path as /proc/PID/exe shows it, walked in the kernel at the call (kernel/decode.ts exePath); null without one */
  exe: string | null;
  cgroup_id: bigint;
  /** the id a container runtime put in the task's cgroup name, else null */
  container_id: string | null;
  mntns: number;
  pidns: number;
  utsns: number;
  /** effective capability set (bit N = capability N) */
  cap_effective: bigint;
  /** CAP_SYS_MODULE was in the effective set */
  cap_sys_module: boolean;
  name_ptr: bigint;
  /** bytes read behind name_ptr at entry, or null when the read failed */
  name_entry: Uint8Array | null;
  /** null when the read succeeded, else the negative errno of the read */
  name_entry_err: number | null;
  name_exit: Uint8Array | null;
  name_exit_err: number | null;
  /** the kernel's own copy of the name, when a hook saw it */
  name_kernel: Uint8Array | null;
  /** name_kernel, else name_entry, else name_exit */
  name: Uint8Array | null;
  flags: number;
  flags_names: string[];
  ret: number;
  /** errno name of a failed call, null on success */
  errno: string | null;
  /** module:module_free fired on this thread during the call; null when that hook was not attached */
  freed: boolean | null;
  /** O_TRUNC was passed and the call succeeded */
  forced: boolean;
  /** the name reads disagree (true), all agree (false), or a read failed (null) */
  toctou: boolean | null;
  /** which comparisons disagreed */
  toctou_reason: ToctouReason[];
}

/** Why the kernel side could not report a call; each has a counter in the BPF object. */
export const LOSS_REASONS = ["ringbuf_full", "inflight_full", "no_exit"] as const;
export type LossReason = (typeof LOSS_REASONS)[number];

/** Calls the kernel side could not report (ring buffer full, too many calls in flight). */
/**
 * The wall clock stepped while recording: the boot-to-wall offset user space sampled moved
 * by more than CLOCK_STEP_NS between two samples. Events from boot_ns on take the new offset.
 */
export interface ClockRecord {
  type: "clock";
  /** wall-clock ns of the sample that saw the step, by the new offset */
  ts_ns: bigint;
  /** the kernel boot clock at that sample, and at the sample before it: the step came between */
  boot_ns: bigint;
  prev_boot_ns: bigint;
  old_boot_to_wall_ns: bigint;
  boot_to_wall_ns: bigint;
}

export interface LossRecord {
  type: "loss";
  /** wall-clock ns when user space noticed the loss */
  ts_ns: bigint;
  count: number;
  reason: LossReason;
}

/**
 * How finely an aggregate attributes its calls (docs/FORMAT.md, "aggregate"):
 * `call`: one process, errno, name (with its read status) and TOCTOU verdict;
 * `process`: one process and errno, once the kernel's table of call keys was
 * full; `all`: any other call, once even the table of processes was full.
 */
export const AGGREGATE_SCOPES = ["call", "process", "all"] as const;
export type AggregateScope = (typeof AGGREGATE_SCOPES)[number];

/**
 * Failing calls beyond the kernel side's budget of individual events,
 * counted exactly instead of recorded one by one (SPEC.md: a flood is
 * summarised, never dropped). Carries the context of the first of them as far
 * as its scope keeps it; fields a scope does not keep are null.
 */
export interface AggregateRecord extends ProcessImage {
  type: "aggregate";
  scope: AggregateScope;
  /** calls summarised; none of them is also an event */
  count: number;
  /** wall-clock ns at the entry of the first and of the last of them */
  ts_ns: bigint;
  last_ts_ns: bigint;
  /** the kernel boot clock at those two entries */
  boot_ns: bigint;
  last_boot_ns: bigint;
  hook: HookName;
  /** the first call's context: scopes call and process; null in scope all */
  pid: number | null;
  tid: number | null;
  ppid: number | null;
  uid: number | null;
  gid: number | null;
  euid: number | null;
  loginuid: number | null;
  sessionid: number | null;
  comm: string | Uint8Array | null;
  parent_comm: string | Uint8Array | null;
  exe: string | null;
  cgroup_id: bigint | null;
  container_id: string | null;
  mntns: number | null;
  pidns: number | null;
  utsns: number | null;
  cap_effective: bigint | null;
  cap_sys_module: boolean | null;
  /** the first call's arguments and name reads, as in an event: scope call; null otherwise */
  name_ptr: bigint | null;
  name_entry: Uint8Array | null;
  name_entry_err: number | null;
  name_exit: Uint8Array | null;
  name_exit_err: number | null;
  name_kernel: Uint8Array | null;
  name: Uint8Array | null;
  flags: number | null;
  flags_names: string[];
  /** the result all of them had: scopes call and process; null in scope all */
  ret: number | null;
  errno: string | null;
  /**
   * scope call: the verdict every one of these calls had (they are grouped by
   * it), with the first call's reasons; null and [] in the other scopes
   */
  toctou: boolean | null;
  toctou_reason: ToctouReason[];
}

/**
 * How many failing calls per `period_ms` the kernel side records as
 * individual events before it aggregates them: per call key (process, errno,
 * name), per process, and across all processes; calls whose name reads
 * disagree (TOCTOU) have budgets of their own. Successful calls are never
 * budgeted. 0 means no limit.
 */
export interface EventBudget {
  period_ms: number;
  key: number;
  process: number;
  global: number;
  toctou_process: number;
  toctou_global: number;
}

/** Individual events per second for failing calls (EventBudget without the period); 0 is no limit. */
export type BudgetRates = Omit<EventBudget, "period_ms">;

/**
 * `dmrec record`'s budget: enough to show every distinct failing call and the
 * start of any flood, well within what the consumer writes per second; a
 * flood beyond it is counted in aggregates.
 */
export const DEFAULT_BUDGET: BudgetRates = { key: 8, process: 64, global: 8192, toctou_process: 1024, toctou_global: 8192 };

export interface CaptureHeader {
  type: "header";
  format: "dmrec-capture";
  version: number;
  dmrec_version: string;
  host: { hostname: string; kernel: string; boot_id: string; arch: string };
  hook: HookName;
  /** module:module_free was attached, so events' `freed` is known */
  module_free: boolean;
  /** the find_module kprobe was attached: failed calls can carry name_kernel */
  find_module: boolean;
  /** wall_ns = boot_ns + boot_to_wall_ns, sampled when recording started */
  clock: { boot_to_wall_ns: bigint };
  /** the kernel side's budget of individual events for failing calls; null in files written before budgets existed */
  budget: EventBudget | null;
  argv: string[];
  start_ns: bigint;
  /** the rotation set this file belongs to (a single file is a set of one) */
  set: CaptureSet;
  /** the forward-secure key chain that signs the file (version 2); null in version 1 files */
  signing: CaptureSigning | null;
}

/**
 * How a version 2 file is signed (docs/FORMAT.md, "Forward-secure
 * signatures"): the chain's first public key, and a long-term key's
 * signature vouching for it when `record --sign-key` was given.
 */
export interface CaptureSigning {
  /** the construction: "dmrec-fs1" */
  scheme: string;
  /** raw 32-byte Ed25519 public key of the key that signs segment 1 */
  first_key: Uint8Array;
  endorsement: KeyEndorsement | null;
}

/** A long-term key's signature of a file's first key. */
export interface KeyEndorsement {
  /** SHA-256 of the long-term key's raw public key, hex */
  fingerprint: string;
  /** 64-byte Ed25519 signature of the endorsement message */
  signature: Uint8Array;
}

/**
 * The files one `dmrec record` run wrote: each file's header names the set,
 * its place in it and the previous file's final hash, so that a set can be
 * verified as a chain (docs/FORMAT.md, "Rotation sets").
 */
export interface CaptureSet {
  /** random UUID, the same in every file of the set */
  id: string;
  /** 1 for the first file, then 2, 3, ... */
  file_index: number;
  /** the previous file's final hash (32 bytes); null in the first file */
  prev_file_hash: Uint8Array | null;
}

/**
 * The index entry of one segment, from the skippable frame written right
 * after its data frame (docs/FORMAT.md, "Segment trailer"). Untrusted until
 * verified: a reader may use it to skip segments, never to report facts.
 */
export interface SegmentInfo {
  type: "segment";
  /** 1 for the first segment, then consecutive */
  index: number;
  /** event items in the segment */
  events: number;
  /** loss records in the segment */
  losses: number;
  /** sum of the loss records' `count`: calls lost */
  lost_calls: number;
  /** aggregate records in the segment (0 in files written before aggregates existed) */
  aggregates: number;
  /** sum of the aggregate records' `count` */
  aggregated_calls: number;
  /** clock records in the segment (0 in files written before them) */
  clock_steps: number;
  /** smallest and largest `ts_ns` of its events; null when it has none */
  first_ts_ns: bigint | null;
  last_ts_ns: bigint | null;
  /** distinct non-null `name`s of its events, in order of first appearance, at most 256 */
  modules: Uint8Array[];
  /** false when names were left out of `modules` (too many, or too long) */
  modules_complete: boolean;
}

/** What the seal, written at a clean close, says about the whole file. */
export interface SealInfo {
  type: "seal";
  segments: number;
  events: number;
  losses: number;
  lost_calls: number;
  /** aggregate records in the file, and the sum of their `count` (0 in older files) */
  aggregates: number;
  aggregated_calls: number;
  /** clock records in the file (0 in older files) */
  clock_steps: number;
  /** smallest and largest `ts_ns` of all events; null when there are none */
  first_ts_ns: bigint | null;
  last_ts_ns: bigint | null;
  /** wall-clock time of the clean close, ns since the Unix epoch, UTC */
  closed_ns: bigint;
  /** the last segment's chain hash (the header's when there are no segments) */
  final_hash: Uint8Array;
  /**
   * SHA-256 of the long-term key's raw 32-byte Ed25519 public key, hex: in
   * version 1 the key that signed the seal, in version 2 the one that
   * endorsed the first key; null when there is none
   */
  signed_by: string | null;
}

export type CaptureItem = CaptureHeader | SegmentItem;

/** What a recorder writes into segments. */
export type SegmentItem = DmrecEvent | LossRecord | AggregateRecord | ClockRecord;
