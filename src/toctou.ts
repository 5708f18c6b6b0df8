// The TOCTOU verdict on the name pointer (docs/FORMAT.md, "The TOCTOU
// verdict"): the bytes read at entry, the bytes read at exit, and the
// kernel's own copy, compared the way the kernel itself copies the name.
import { bytesEqual } from "./bytes.ts";
import type { ToctouReason } from "./event.ts";
import { DMREC_KNAME_LEN } from "./kernel/layout.ts";

/** strncpy_from_user(name, user, MODULE_NAME_LEN - 1): the kernel keeps 55 bytes. */
export const KERNEL_NAME_MAX = DMREC_KNAME_LEN - 1;


export interface ToctouVerdict {
  /** true: the reads disagree; false: both user reads succeeded and all agree; null: unknown */
  toctou: boolean | null;
  toctou_reason: ToctouReason[];
}

/** What the kernel would have kept of these user bytes. */
function asKernelCopy(user: Uint8Array): Uint8Array {
  return user.subarray(0, KERNEL_NAME_MAX);
}

/**
 * A null read is one that failed (or, for the kernel, was not seen): it is
 * compared with nothing. A long name that the kernel truncated to 55 bytes is
 * not a TOCTOU by itself.
 */
export function toctouVerdict(
  entry: Uint8Array | null,
  exit: Uint8Array | null,
  kernel: Uint8Array | null,
): ToctouVerdict {
  const reasons: ToctouReason[] = [];
  if (entry && exit && !bytesEqual(entry, exit)) reasons.push("entry!=exit");
  if (entry && kernel && !bytesEqual(asKernelCopy(entry), kernel)) reasons.push("entry!=kernel");
  if (exit && kernel && !bytesEqual(asKernelCopy(exit), kernel)) reasons.push("exit!=kernel");
  if (reasons.length) return { toctou: true, toctou_reason: reasons };
  return { toctou: entry && exit ? false : null, toctou_reason: [] };
}
