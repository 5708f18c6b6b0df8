// The compiled BPF object, embedded in the executable by `bun build --compile`.
import objectPath from "../../bpf/dmrec.bpf.o" with { type: "file" };

export async function readBpfObject(): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(objectPath).arrayBuffer());
}
