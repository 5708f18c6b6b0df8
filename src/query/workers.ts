// How many worker threads query and export decode with (src/query/parallel.ts), apart
// from the workers themselves so that deciding loads nothing.
import { availableParallelism } from "node:os";
import { UsageError } from "../errors.ts";

/** Below this much input, starting workers costs more than it saves. */
const MIN_PARALLEL_BYTES = 1 << 20;
const MAX_WORKERS = 8;

/**
 * Workers by default, within the reader's 256 MiB bound (issue 9): each is a JS heap of
 * its own, about 40 MiB rendering JSON lines or CSV and 80 MiB building ECS, OCSF or
 * Timesketch objects, beside the main thread's 140-150 MiB (1M events on 2 cores: jsonl
 * 225 MiB with two workers, ocsf 233 MiB with one and 292 MiB with two).
 */
const DEFAULT_WORKERS = 2;
const DEFAULT_WORKERS_BUILDING_OBJECTS = 1;
const BUILDS_OBJECTS: ReadonlySet<string> = new Set(["ecs", "ocsf", "timesketch"]);

/**
 * DMREC_WORKERS when set (0: none, decode in the main thread; anything but a number is a
 * UsageError; more than the default goes past the memory bound), else one per core, up
 * to what the memory bound allows for `format`, when the input is large enough to pay
 * for them and there is more than one core.
 */
export function workersFor(inputBytes: number, format: string): number {
  const set = process.env.DMREC_WORKERS;
  if (set !== undefined) {
    if (!/^\d+$/.test(set)) throw new UsageError(`DMREC_WORKERS: expected a number of worker threads (0 for none), got "${set}"`);
    return Math.min(Number(set), MAX_WORKERS);
  }
  const cores = availableParallelism();
  const bound = BUILDS_OBJECTS.has(format) ? DEFAULT_WORKERS_BUILDING_OBJECTS : DEFAULT_WORKERS;
  return cores > 1 && inputBytes >= MIN_PARALLEL_BYTES ? Math.min(cores, bound) : 0;
}
