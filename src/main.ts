#!/usr/bin/env bun
// Entry point: run the CLI and turn any error into one line and an exit code.
import { runCli } from "./cli.ts";
import { DmrecError, ExitCode } from "./errors.ts";

try {
  process.exitCode = await runCli(process.argv.slice(2));
} catch (e) {
  if (e instanceof DmrecError) {
    process.stderr.write(`dmrec: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else {
    const detail = process.env.DMREC_DEBUG ? (e as Error).stack : (e as Error).message;
    process.stderr.write(`dmrec: internal error: ${detail} (set DMREC_DEBUG=1 for details)\n`);
    process.exitCode = ExitCode.internal;
  }
}
