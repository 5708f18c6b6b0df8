// The same unloads on Debian's arm64 kernel, under qemu-system-aarch64, with the arm64
// executable and BPF object: see unload_checks.ts.
import { unloadSuite } from "./unload_checks.ts";

unloadSuite("arm64");
