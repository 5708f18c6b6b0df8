// How many worker threads a query or export starts: within the reader's memory bound by
// default (each worker is a heap of its own), as DMREC_WORKERS says otherwise.
import { afterEach, describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { workersFor } from "../../src/query/workers.ts";

const MiB = 1 << 20;
const saved = process.env.DMREC_WORKERS;
afterEach(() => {
  if (saved === undefined) delete process.env.DMREC_WORKERS;
  else process.env.DMREC_WORKERS = saved;
});

describe("workersFor", () => {
  test("by default: none below 1 MiB of input, else one per core up to two (one for formats that build objects)", () => {
    delete process.env.DMREC_WORKERS;
    const cores = availableParallelism();
    const upTo = (n: number) => (cores > 1 ? Math.min(cores, n) : 0);
    for (const f of ["count", "jsonl", "json", "csv", "table"]) {
      expect([f, workersFor(MiB - 1, f)]).toEqual([f, 0]);
      expect([f, workersFor(MiB, f)]).toEqual([f, upTo(2)]);
      expect([f, workersFor(10_000 * MiB, f)]).toEqual([f, upTo(2)]);
    }
    for (const f of ["ecs", "ocsf", "timesketch"]) expect([f, workersFor(10_000 * MiB, f)]).toEqual([f, upTo(1)]);
  });

  test("DMREC_WORKERS decides, up to eight, whatever the input and format", () => {
    for (const [set, want] of [["0", 0], ["3", 3], ["8", 8], ["64", 8]] as const) {
      process.env.DMREC_WORKERS = set;
      expect(workersFor(0, "ocsf")).toBe(want);
      expect(workersFor(10_000 * MiB, "jsonl")).toBe(want);
    }
  });

  test("DMREC_WORKERS that is not a number is a usage error", () => {
    for (const bad of ["", "two", "-1", "1.5", " 2"]) {
      process.env.DMREC_WORKERS = bad;
      expect(() => workersFor(10 * MiB, "jsonl")).toThrow(`DMREC_WORKERS: expected a number of worker threads (0 for none), got "${bad}"`);
    }
  });
});
