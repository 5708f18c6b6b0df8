// `dmrec query` and `dmrec export`: read captures, filter, render events and aggregates.
import { closeSync } from "node:fs";
import { checkInputs } from "../capture/scan.ts";
import { openNewFile } from "../files.ts";
import { DamagedInputError, ExitCode } from "../errors.ts";
import { parseFilter, type FilterOptions } from "../query/filter.ts";
import { mergedItems } from "../query/merge.ts";
import { createRenderer, type Format } from "../query/render.ts";
import { fdSink } from "./output.ts";

export interface QueryCommandOptions {
  files: string[];
  filter: FilterOptions;
  /** stop after this many records (events and aggregates) */
  limit?: number;
  format: Format;
  /** print the number of matching calls: an aggregate counts its calls */
  count: boolean;
  /** export: a file to create instead of stdout */
  out?: string;
  force?: boolean;
}

/** Everything intact has been written: now say what was not (exit 4), naming every damaged file. */
export function throwDamage(damaged: DamagedInputError[]): void {
  const [first, ...others] = damaged;
  if (!first) return;
  if (others.length) first.message += `; also damaged: ${others.map((d) => d.file).join(", ")}`;
  throw first;
}

export async function queryCommand(o: QueryCommandOptions): Promise<number> {
  checkInputs(o.files);
  const filter = parseFilter(o.filter, new Date());
  const damaged: DamagedInputError[] = [];
  // A count of everything needs no time order, and skips the reorder window's cost.
  const items = mergedItems(o.files, filter, damaged, o.count && o.limit === undefined ? { reorderWindow: 0 } : {});
  let next = items.next();
  const fd = o.out === undefined ? 1 : openNewFile(o.out, { force: o.force ?? false });
  try {
    const out = fdSink(fd, o.out ?? "stdout");
    const renderer = o.count ? undefined : createRenderer(o.format, out.write);
    let records = 0;
    let calls = 0;
    for (; !next.done; next = items.next()) {
      const item = next.value;
      records++;
      calls += item.type === "event" ? 1 : item.count;
      renderer?.item(item);
      if (out.closed || records === o.limit) break;
    }
    items.return(undefined);
    if (renderer) renderer.end();
    else out.write(`${calls}\n`);
    out.flush();
  } finally {
    if (o.out !== undefined) closeSync(fd);
  }
  throwDamage(damaged);
  return ExitCode.ok;
}
