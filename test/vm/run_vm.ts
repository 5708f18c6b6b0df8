// Runs one VM scenario through test/vm/vm.sh, as the VM suites do: its console goes to
// the test's output, and a failure carries vm.sh's last words (CI shows a log's tail only).
export function runVm(scenario: string, out: string, env: Record<string, string>): void {
  const vm = Bun.spawnSync(["test/vm/vm.sh", scenario, out], { stdout: "inherit", stderr: "pipe", env: { ...process.env, ...env } });
  const err = vm.stderr.toString();
  process.stderr.write(err);
  if (vm.exitCode !== 0) {
    const tail = err.trim().split("\n").slice(-15).join("\n");
    throw new Error(`the VM run failed (exit ${vm.exitCode}; console in ${out}/console.log):\n${tail}`);
  }
}
