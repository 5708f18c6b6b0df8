// Which kernel hooks exist, which BPF programs each needs, and what the
// running kernel offers for each, judged from files. Attaching for real
// (attachProbe) is the final word; these checks explain why a hook is absent.
import { existsSync, readFileSync } from "node:fs";
import type { HookName } from "../event.ts";

export const HOOK_PROGRAMS: Record<HookName, readonly string[]> = {
  kprobe: ["ksys_enter", "ksys_exit"],
  tracepoint: ["tp_enter", "tp_exit"],
  "raw-syscalls": ["raw_sys_enter", "raw_sys_exit"],
};

export const MODULE_FREE_PROGRAM = "module_free";
export const FIND_MODULE_PROGRAM = "find_module_entry";

export interface Availability {
  available: boolean;
  why: string;
}

const TRACEFS_MOUNTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const KPROBE_PMU = "/sys/bus/event_source/devices/kprobe";

function tracefs(): string | undefined {
  return TRACEFS_MOUNTS.find((dir) => existsSync(`${dir}/events`));
}

// Several megabytes, and the same for every check of one run: read once.
let kallsyms: string | undefined;

function kernelSymbol(pattern: RegExp): boolean {
  try {
    kallsyms ??= readFileSync("/proc/kallsyms", "utf8");
  } catch {
    return false;
  }
  return pattern.test(kallsyms);
}

const syscallSymbolKnown = () => kernelSymbol(/^\w+ \w (__\w+_sys_delete_module|sys_delete_module)$/m);

export function checkHook(hook: HookName): Availability {
  switch (hook) {
    case "kprobe":
      if (!existsSync(KPROBE_PMU)) {
        return { available: false, why: "the kernel has no kprobes (CONFIG_KPROBES/CONFIG_KPROBE_EVENTS off)" };
      }
      return syscallSymbolKnown()
        ? { available: true, why: "kprobes present, delete_module's entry symbol is in /proc/kallsyms" }
        : { available: false, why: "no delete_module entry symbol in /proc/kallsyms" };
    case "tracepoint": {
      const dir = tracefs();
      if (!dir) {
        return {
          available: false,
          why: "tracefs is not mounted or not readable (as root: mount -t tracefs nodev /sys/kernel/tracing)",
        };
      }
      return existsSync(`${dir}/events/syscalls/sys_enter_delete_module`)
        ? { available: true, why: `${dir}/events/syscalls/sys_enter_delete_module exists` }
        : {
            available: false,
            why: "no syscalls:sys_enter_delete_module tracepoint (CONFIG_FTRACE_SYSCALLS off, or the syscall not built)",
          };
    }
    case "raw-syscalls":
      return { available: true, why: "raw tracepoints raw_syscalls:sys_enter/sys_exit exist wherever BPF does" };
  }
}

export function checkModuleFree(): Availability {
  return existsSync("/proc/modules")
    ? { available: true, why: "the kernel has loadable modules (/proc/modules)" }
    : { available: false, why: "the kernel has no loadable modules (CONFIG_MODULES off): nothing can be freed" };
}

/** A kprobe on find_module shows the kernel's copy of the name for calls that fail. */
export function checkFindModule(): Availability {
  if (!existsSync(KPROBE_PMU)) return { available: false, why: "the kernel has no kprobes" };
  if (!existsSync("/proc/modules")) return { available: false, why: "the kernel has no loadable modules" };
  return kernelSymbol(/^\w+ \w find_module$/m)
    ? { available: true, why: "kprobes present, find_module is in /proc/kallsyms" }
    : { available: false, why: "find_module is not in /proc/kallsyms (inlined or renamed in this kernel)" };
}

export function checkBtf(): Availability {
  return existsSync("/sys/kernel/btf/vmlinux")
    ? { available: true, why: "/sys/kernel/btf/vmlinux" }
    : { available: false, why: "no kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): CO-RE cannot relocate" };
}
