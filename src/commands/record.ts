// `dmrec record`: wires signals and terminal output around the recorder library.
import { ExitCode } from "../errors.ts";
import type { HookChoice } from "../kernel/loader.ts";
import { toJsonRecord } from "../query/render.ts";
import { record, type RecordStats } from "../recorder.ts";
import { onStopSignals } from "../runtime.ts";

export interface RecordCommandOptions {
  out: string;
  durationMs?: number;
  force: boolean;
  print: boolean;
  quiet: boolean;
  hook: HookChoice;
  segmentEvents?: number;
  segmentMs?: number;
  argv: string[];
}

const summary = (s: RecordStats) => `${s.events} events, ${s.lost} lost, ${s.bytes} bytes`;

export async function recordCommand(o: RecordCommandOptions): Promise<number> {
  const stop = new AbortController();
  const unhook = onStopSignals(() => stop.abort());
  const statusLine = !o.quiet && process.stderr.isTTY;
  try {
    const stats = await record({
      out: o.out,
      force: o.force,
      hook: o.hook,
      durationMs: o.durationMs,
      segmentEvents: o.segmentEvents,
      segmentMs: o.segmentMs,
      argv: o.argv,
      stop: stop.signal,
      onAttached: ({ plan, out }) => {
        const hooks = [plan.hook, ...(plan.moduleFree ? ["module_free"] : []), ...(plan.findModule ? ["find_module"] : [])].join(" + ");
        if (!o.quiet) process.stderr.write(`dmrec: recording to ${out} (hook ${hooks}); Ctrl-C to stop\n`);
      },
      onEvent: o.print ? (ev) => process.stdout.write(`${JSON.stringify(toJsonRecord(ev))}\n`) : undefined,
      onProgress: statusLine ? (s) => process.stderr.write(`\r\x1b[Kdmrec: ${summary(s)}`) : undefined,
    });
    if (statusLine) process.stderr.write("\r\x1b[K");
    if (!o.quiet) process.stderr.write(`dmrec: ${o.out}: ${summary(stats)}\n`);
    return ExitCode.ok;
  } finally {
    unhook();
  }
}
