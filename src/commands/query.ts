// `dmrec query` and `dmrec export`: read captures, filter, render.
import { closeSync } from "node:fs";
import { openNewFile } from "../files.ts";
import { DamagedInputError, ExitCode } from "../errors.ts";
import { matches, parseFilter, type FilterOptions } from "../query/filter.ts";
import { mergedEvents } from "../query/merge.ts";
import { createRenderer, type Format } from "../query/render.ts";
import { fdSink } from "./output.ts";

export interface QueryCommandOptions {
  files: string[];
  filter: FilterOptions;
  limit?: number;
  format: Format;
  count: boolean;
  /** export: a file to create instead of stdout */
  out?: string;
  force?: boolean;
}

export async function queryCommand(o: QueryCommandOptions): Promise<number> {
  const filter = parseFilter(o.filter, new Date());
  const damaged: DamagedInputError[] = [];
  const events = mergedEvents(o.files, filter, damaged);
  let next = events.next();
  const fd = o.out === undefined ? 1 : openNewFile(o.out, { force: o.force ?? false });
  try {
    const out = fdSink(fd, o.out ?? "stdout");
    const renderer = o.count ? undefined : createRenderer(o.format, out.write);
    let n = 0;
    for (; !next.done; next = events.next()) {
      if (!matches(filter, next.value)) continue;
      n++;
      renderer?.event(next.value);
      if (out.closed || n === o.limit) break;
    }
    events.return(undefined);
    if (renderer) renderer.end();
    else out.write(`${n}\n`);
    out.flush();
  } finally {
    if (o.out !== undefined) closeSync(fd);
  }
  // Everything intact has been written; now say what was not.
  const [first, ...others] = damaged;
  if (first) {
    if (others.length) first.message += `; also damaged: ${others.map((d) => d.file).join(", ")}`;
    throw first;
  }
  return ExitCode.ok;
}
