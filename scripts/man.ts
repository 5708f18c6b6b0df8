// Writes dmrec's man page (roff, section 1) on stdout from the executable's
// own --help texts, so that it says what the option definitions say.
//
//   node_modules/.bin/bun scripts/man.ts dist/dmrec > dist/dmrec.1
const exe = process.argv[2];
if (!exe) throw new Error("usage: man.ts DMREC_EXECUTABLE");

const COMMANDS = ["record", "query", "export", "stats", "report", "info", "verify", "keygen", "doctor", "completion"];

function help(args: string[]): string {
  // A fixed width, so the page does not depend on the terminal that built it.
  const r = Bun.spawnSync([exe!, ...args, "--help"], { env: { ...process.env, COLUMNS: "78" } });
  if (r.exitCode !== 0) throw new Error(`${exe} ${args.join(" ")} --help failed: ${r.stderr.toString()}`);
  return r.stdout.toString().trimEnd();
}

/** Text as roff shows it verbatim: backslashes doubled, no line read as a request. */
const verbatim = (text: string) =>
  text
    .split("\n")
    .map((l) => l.replaceAll("\\", "\\e").replace(/^([.'])/, "\\&$1"))
    .join("\n");

const version = Bun.spawnSync([exe, "--version"]).stdout.toString().trim();
const page = [
  `.TH DMREC 1 "" "dmrec ${version}" "User Commands"`,
  ".SH NAME",
  "dmrec \\- forensic recorder for Linux kernel-module unloads (delete_module)",
  ".SH SYNOPSIS",
  ".B dmrec",
  ".I command",
  "[options]",
  ".SH DESCRIPTION",
  ".nf",
  verbatim(help([])),
  ".fi",
  ".SH COMMANDS",
  ...COMMANDS.flatMap((c) => [`.SS ${c}`, ".nf", verbatim(help([c])), ".fi"]),
  ".SH EXIT STATUS",
  "See the README of the dmrec source: 0 success, 2 usage, 3 unreadable input, 4 damaged input,",
  "5 output error, 6 privilege, 7 kernel side, 10\\-16 verify verdicts.",
].join("\n");
process.stdout.write(`${page}\n`);
