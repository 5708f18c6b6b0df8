// Real module unloads on a real Debian kernel (x86_64), in a QEMU VM: the scenarios are
// test/vm/unload.sh, the checks unload_checks.ts (arm64_vm.test.ts runs them on arm64).
import { unloadSuite } from "./unload_checks.ts";

unloadSuite("x86_64");
