// The compiled BPF object for the architecture dmrec runs on: embedded in the executable
// (bpf_object_files.ts) under Bun, read from the checkout's bpf/ under Deno.
import { readFileSync } from "node:fs";
import { KernelError } from "../errors.ts";
import { isBun } from "../runtime.ts";

const OBJECTS: Partial<Record<NodeJS.Architecture, string>> = { x64: "dmrec.bpf.o", arm64: "dmrec.arm64.bpf.o" };

export async function readBpfObject(): Promise<Uint8Array> {
  const name = OBJECTS[process.arch];
  if (name === undefined) throw new KernelError(`no BPF object for this architecture (${process.arch}): dmrec records on x86_64 and arm64`);
  if (!isBun) return new Uint8Array(readFileSync(new URL(`../../bpf/${name}`, import.meta.url)));
  const { OBJECT_PATHS, readEmbedded } = await import("./bpf_object_files.ts");
  return readEmbedded(OBJECT_PATHS[process.arch]!);
}
