// How many worker threads query and export decode with (src/query/parallel.ts), apart
// from the workers themselves so that deciding loads nothing.
import { availableParallelism } from "node:os";
import { UsageError } from "../errors.ts";

/** Below this much input, starting workers costs more than it saves. */
const MIN_PARALLEL_BYTES = 1 << 20;
const MAX_WORKERS = 8;

/**
 * DMREC_WORKERS when set (0: none, decode in the main thread; anything but a number is a
 * UsageError), else one per core when the input is large enough to pay for them and
 * there is more than one core.
 */
export function workersFor(inputBytes: number): number {
  const set = process.env.DMREC_WORKERS;
  if (set !== undefined) {
    if (!/^\d+$/.test(set)) throw new UsageError(`DMREC_WORKERS: expected a number of worker threads (0 for none), got "${set}"`);
    return Math.min(Number(set), MAX_WORKERS);
  }
  const cores = availableParallelism();
  return cores > 1 && inputBytes >= MIN_PARALLEL_BYTES ? Math.min(cores, MAX_WORKERS) : 0;
}
