// The compiled BPF objects, embedded in the executable by `bun build --compile`: the
// one for the architecture it runs on is loaded.
import arm64ObjectPath from "../../bpf/dmrec.arm64.bpf.o" with { type: "file" };
import x64ObjectPath from "../../bpf/dmrec.bpf.o" with { type: "file" };
import { KernelError } from "../errors.ts";

export async function readBpfObject(): Promise<Uint8Array> {
  const path = process.arch === "x64" ? x64ObjectPath : process.arch === "arm64" ? arm64ObjectPath : null;
  if (path === null) throw new KernelError(`no BPF object for this architecture (${process.arch}): dmrec records on x86_64 and arm64`);
  return new Uint8Array(await Bun.file(path).arrayBuffer());
}
