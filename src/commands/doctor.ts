// `dmrec doctor`: prints the report, as text or JSON.
import { doctor, type DoctorReport } from "../doctor.ts";
import type { Availability } from "../kernel/hooks.ts";

function line(label: string, a: Availability, detail = a.why) {
  return `${label.padEnd(18)} ${a.available ? "yes" : "no "}  ${detail}\n`;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function text(r: DoctorReport): string {
  let out = `${"kernel".padEnd(18)} ${r.kernel} ${r.arch}\n`;
  out += line("btf", r.btf);
  out += line("libbpf", r.libbpf, r.libbpf.version ? `${r.libbpf.version} (${r.libbpf.why})` : r.libbpf.why);
  out += line("privileges", r.privileges);
  for (const [hook, f] of Object.entries(r.hooks)) out += line(`hook ${hook}`, f, f.attached === undefined ? `${f.why} (not attached: needs root and libbpf)` : f.why);
  out += line("hook module_free", r.module_free);
  out += line("kprobe find_module", r.find_module);
  const extras = `${r.module_free.attached ? " + module_free" : ""}${r.find_module.attached ? " + find_module" : ""}`;
  out += `${"record would use".padEnd(18)} ${r.record_hook ? `${r.record_hook}${extras}` : `nothing: ${r.problem}`}\n`;
  if (r.map_memory) {
    const largest = Object.entries(r.map_memory.maps)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([name, bytes]) => `${name} ${mib(bytes)}`);
    out += `${"kernel memory".padEnd(18)} ${mib(r.map_memory.total)} held by the BPF maps (${largest.join(", ")}, ...)\n`;
  }
  return out;
}

export async function doctorCommand(o: { json: boolean }): Promise<number> {
  const report = await doctor();
  process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : text(report));
  if (report.problem) process.stderr.write(`dmrec: recording is not possible here: ${report.problem}\n`);
  return report.exit_code;
}
