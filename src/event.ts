// The decoded event, as written to a capture and as query/export see it.
// Key names are a user-facing contract (SPEC.md, "An event"); docs/FORMAT.md
// documents each one.

export const HOOK_NAMES = ["kprobe", "tracepoint", "raw-syscalls"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export const TOCTOU_REASONS = ["entry!=exit", "entry!=kernel", "exit!=kernel"] as const;
export type ToctouReason = (typeof TOCTOU_REASONS)[number];

export interface DmrecEvent {
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
  /** /proc/PID/exe read by the recorder while the process still ran, else null */
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
export interface LossRecord {
  type: "loss";
  /** wall-clock ns when user space noticed the loss */
  ts_ns: bigint;
  count: number;
  reason: LossReason;
}

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
  argv: string[];
  start_ns: bigint;
  /** the rotation set this file belongs to (a single file is a set of one) */
  set: CaptureSet;
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
  /** smallest and largest `ts_ns` of all events; null when there are none */
  first_ts_ns: bigint | null;
  last_ts_ns: bigint | null;
  /** wall-clock time of the clean close, ns since the Unix epoch, UTC */
  closed_ns: bigint;
  /** the last segment's chain hash (the header's when there are no segments) */
  final_hash: Uint8Array;
  /** SHA-256 of the signing key's raw 32-byte Ed25519 public key, hex; null when unsigned */
  signed_by: string | null;
}

export type CaptureItem = CaptureHeader | DmrecEvent | LossRecord;
