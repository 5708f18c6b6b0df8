// `make install`: the executable, a man page and completion scripts, all
// made from the executable's own option definitions, where a package would
// put them. Needs `make build`.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const prefix = mkdtempSync(join(tmpdir(), "dmrec-install-"));
afterAll(() => rmSync(prefix, { recursive: true, force: true }));

const made = Bun.spawnSync(["make", "--no-print-directory", "-s", "install", `PREFIX=${prefix}`]);
if (made.exitCode !== 0) throw new Error(`make install failed: ${made.stderr.toString()}`);
const sh = (script: string) => {
  const r = Bun.spawnSync(["bash", "-c", script], { env: { ...process.env, PATH: `${prefix}/bin:${process.env.PATH}` } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

test("the executable, the man page and both completion scripts are where packages put them", () => {
  const exe = join(prefix, "bin/dmrec");
  expect(statSync(exe).mode & 0o777).toBe(0o755);
  for (const f of ["share/man/man1/dmrec.1", "share/bash-completion/completions/dmrec", "share/zsh/site-functions/_dmrec"]) {
    expect(existsSync(join(prefix, f))).toBe(true);
  }
  expect(sh("dmrec --version").stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
});

test("the man page renders without warnings and documents every command and option", () => {
  const page = join(prefix, "share/man/man1/dmrec.1");
  const lint = sh(`groff -man -Tutf8 -ww -z ${page}`);
  expect(lint.stderr).toBe("");
  const text = sh(`MANWIDTH=120 man -l ${page}`).stdout;
  for (const cmd of ["record", "query", "export", "stats", "info", "verify", "keygen", "doctor", "completion"]) expect(text).toContain(`dmrec ${cmd}`);
  for (const opt of ["--budget-key", "--rotate-every", "--events-only", "--module", "--pubkey", "--format"]) expect(text).toContain(opt);
});

test("bash completion completes commands and options from the executable itself", () => {
  const script = join(prefix, "share/bash-completion/completions/dmrec");
  const complete = (words: string[]) =>
    sh(`source ${script}; COMP_WORDS=(${words.join(" ")}); COMP_CWORD=${words.length - 1}; _dmrec_yargs_completions; echo "\${COMPREPLY[@]}"`).stdout;
  expect(complete(["dmrec", "sta"])).toContain("stats");
  expect(complete(["dmrec", "query", "--for"])).toContain("--format");
  expect(readFileSync(join(prefix, "share/zsh/site-functions/_dmrec"), "utf8")).toStartWith("#compdef dmrec");
});

test("the executable carries no WebAssembly zstd: its Bun has zstd in node:zlib", () => {
  // A name only zstd-codec's Emscripten module uses, which a bundle from source holds.
  const marker = "wasmBinaryFile";
  expect(readFileSync("node_modules/zstd-codec/lib/zstd-codec-binding-wasm.js", "latin1")).toContain(marker);
  for (const exe of ["dist/dmrec", "dist/dmrec-arm64"]) expect(readFileSync(exe, "latin1").includes(marker)).toBe(false);
  expect(sh("dmrec query fixtures/small.cbor.zst --count")).toEqual({ code: 0, stdout: "2\n", stderr: "" });
});
