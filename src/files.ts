// Files dmrec creates as root, often in shared directories: new, 0600, never
// through a symlink, never clobbering without --force.
import { closeSync, constants, fsyncSync, lstatSync, openSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { OutputError } from "./errors.ts";

/** strerror-like text for the errors a user can do something about. */
export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case "ENOENT":
      return "no such directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOSPC":
      return "No space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "read-only file system";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "EIO":
      return "input/output error";
    default:
      return err.message ?? String(e);
  }
}

/** The path is taken: something exists there that openNewFile may not replace. */
export class PathTakenError extends OutputError {}

/**
 * Creates `path` 0600 for writing and returns its descriptor. It never
 * follows a symlink at `path` and never replaces an existing file unless
 * `force`, and then only a regular file, by unlinking it and creating anew:
 * opening it with O_TRUNC would write through a hard link planted in a
 * shared directory, and keep the old file's mode.
 */
export function openNewFile(path: string, opts: { force: boolean }): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(path, flags, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new OutputError(path, describeFsError(e));
    }
    let st;
    try {
      st = lstatSync(path);
    } catch (e) {
      // Gone between open and lstat: try to create it again.
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && attempt < 3) continue;
      throw new OutputError(path, describeFsError(e));
    }
    if (st.isSymbolicLink()) throw new PathTakenError(path, "is a symbolic link, refusing to follow it");
    if (!opts.force) throw new PathTakenError(path, "exists (use --force to overwrite)");
    if (!st.isFile()) throw new PathTakenError(path, "exists and is not a regular file, refusing to replace it");
    if (attempt >= 3) throw new OutputError(path, "keeps being re-created by someone else");
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new OutputError(path, describeFsError(e));
    }
  }
}

/** Makes the new file's directory entry durable, not only its contents. */
export function fsyncDirectory(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch (e) {
    // Some file systems cannot fsync a directory; the data itself is synced.
    if (!["EINVAL", "ENOTSUP", "EOPNOTSUPP"].includes((e as NodeJS.ErrnoException).code ?? "")) {
      throw new OutputError(path, `syncing its directory: ${describeFsError(e)}`);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
