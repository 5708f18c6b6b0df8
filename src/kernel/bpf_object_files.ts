// The compiled BPF objects as files that `bun build --compile` embeds in the executable
// (their paths are then $bunfs paths). Bun only: Deno has no such import.
import arm64ObjectPath from "../../bpf/dmrec.arm64.bpf.o" with { type: "file" };
import x64ObjectPath from "../../bpf/dmrec.bpf.o" with { type: "file" };

export const OBJECT_PATHS: Partial<Record<NodeJS.Architecture, string>> = { x64: x64ObjectPath, arm64: arm64ObjectPath };

export async function readEmbedded(path: string): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(path).arrayBuffer());
}
