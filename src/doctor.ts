// `dmrec doctor` as a library: what this kernel and host offer for recording,
// and which hook `record --hook auto` would use. As root every hook is really
// attached and detached, so the answer is the kernel's own, not a guess.
import os from "node:os";
import { DmrecError, ExitCode, type ExitCodeValue } from "./errors.ts";
import { HOOK_NAMES, type EventBudget, type HookName } from "./event.ts";
import { readBpfObject } from "./kernel/bpf_object.ts";
import { getLibbpf } from "./kernel/ffi.ts";
import {
  checkBtf,
  checkFindModule,
  checkHook,
  checkModuleFree,
  type Availability,
} from "./kernel/hooks.ts";
import { attachProbe, type ProbePlan } from "./kernel/loader.ts";
import { assertCanRecord, assertRuntimePermits } from "./kernel/privileges.ts";

export interface Finding extends Availability {
  /** whether attaching for real worked; absent when it could not be tried */
  attached?: boolean;
  /** libbpf's account of a failed attach */
  attach_error?: string;
}

export interface DoctorReport {
  kernel: string;
  arch: string;
  btf: Availability;
  libbpf: Availability & { version: string | null };
  privileges: Availability;
  hooks: Record<HookName, Finding>;
  module_free: Finding;
  find_module: Finding;
  /** the hook `record --hook auto` would use, null when recording is impossible */
  record_hook: HookName | null;
  /** kernel memory the maps hold as record would load them (bytes, by map), null when nothing attached or fdinfo was unreadable */
  map_memory: { total: number; maps: Record<string, number> } | null;
  /** why recording is impossible, null when it is possible */
  problem: string | null;
  exit_code: ExitCodeValue;
}

/** Nothing is recorded while doctor attaches: any budget will do. */
const NO_BUDGET: EventBudget = { period_ms: 1000, key: 0, process: 0, global: 0, toctou_process: 0, toctou_global: 0 };

/** The file-based check, corrected by a real attach where the two disagree. */
function tryAttach(object: Uint8Array, plan: ProbePlan, check: Availability, memory?: (maps: Record<string, number>) => void): Finding {
  try {
    const probe = attachProbe(object, plan, NO_BUDGET);
    try {
      memory?.(probe.mapMemory());
    } catch (e) {
      // The hook attached: an unreadable fdinfo leaves the maps' memory unknown (null), no more.
      if (!(e instanceof DmrecError)) throw e;
    } finally {
      probe.close();
    }
    return { available: true, attached: true, why: check.available ? check.why : "attached, though the kernel's files suggested otherwise" };
  } catch (e) {
    if (!(e instanceof DmrecError)) throw e;
    const why = check.available ? "attaching failed (see attach_error in --json)" : check.why;
    return { available: false, attached: false, why, attach_error: e.message };
  }
}

export async function doctor(): Promise<DoctorReport> {
  assertRuntimePermits("doctor");
  const btf = checkBtf();
  let libbpf: DoctorReport["libbpf"];
  try {
    const lib = getLibbpf();
    const version = `${lib.libbpf_major_version()}.${lib.libbpf_minor_version()}`;
    libbpf = { available: true, version, why: "libbpf.so.1 loaded" };
  } catch (e) {
    libbpf = { available: false, version: null, why: (e as Error).message };
  }
  let privileges: Availability;
  try {
    assertCanRecord();
    privileges = { available: true, why: "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) held" };
  } catch (e) {
    privileges = { available: false, why: (e as Error).message };
  }

  const canTry = libbpf.available && privileges.available && btf.available;
  const object = canTry ? await readBpfObject() : undefined;
  const hooks = {} as Record<HookName, Finding>;
  // Every plan loads the same maps, whatever its programs: measured on the first attach.
  let map_memory: DoctorReport["map_memory"] = null;
  const measure = (maps: Record<string, number>) => {
    map_memory ??= { total: Object.values(maps).reduce((a, b) => a + b, 0), maps };
  };
  for (const hook of HOOK_NAMES) {
    const check = checkHook(hook);
    if (!object) {
      hooks[hook] = check;
      continue;
    }
    hooks[hook] = tryAttach(object, { hook, moduleFree: false, findModule: false }, check, measure);
  }
  const record_hook = object ? (HOOK_NAMES.find((h) => hooks[h].attached) ?? null) : null;

  // The extras, each attached beside the hook record would use.
  const extra = (check: Availability, plan: { moduleFree: boolean; findModule: boolean }): Finding =>
    object && record_hook && check.available ? tryAttach(object, { hook: record_hook, ...plan }, check) : check;
  const module_free = extra(checkModuleFree(), { moduleFree: true, findModule: false });
  const find_module = extra(checkFindModule(), { moduleFree: false, findModule: true });

  let problem: string | null = null;
  let exit_code: ExitCodeValue = ExitCode.ok;
  if (!privileges.available) [problem, exit_code] = [privileges.why, ExitCode.privilege];
  else if (!libbpf.available) [problem, exit_code] = [libbpf.why, ExitCode.kernel];
  else if (!btf.available) [problem, exit_code] = [btf.why, ExitCode.kernel];
  else if (!record_hook) [problem, exit_code] = ["no hook could be attached", ExitCode.kernel];

  return {
    kernel: os.release(),
    arch: os.machine(),
    btf,
    libbpf,
    privileges,
    hooks,
    module_free,
    find_module,
    record_hook,
    map_memory,
    problem,
    exit_code,
  };
}
