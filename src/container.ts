// A container id from the leaf name of a task's cgroup, as container
// runtimes name them (docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope, or the bare 64-hex id under docker/).

const CONTAINER_ID = /(?:^|[-_:])([0-9a-f]{64})(?:\.scope)?$/;

export function containerIdFromCgroup(leaf: string): string | null {
  return CONTAINER_ID.exec(leaf)?.[1] ?? null;
}
