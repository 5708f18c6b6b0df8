// The files of one recording: a rotation set (docs/FORMAT.md, "Rotation
// sets") of captures, each with its own header and seal, the next file's
// header naming the previous one's final hash. Rotating, deleting the oldest
// beyond --max-files and keeping the totals of closed files are here, so the
// record loop only says when. Captures often go to shared directories: a name
// someone planted is passed over, never written through or replaced, and the
// files of a live recording are locked against a second recorder.
import { randomUUID, type KeyObject } from "node:crypto";
import { closeSync, constants, openSync, unlinkSync } from "node:fs";
import { rotatedPath } from "../capture/sets.ts";
import { ChainKey } from "../capture/keychain.ts";
import { CaptureWriter, type NewHeader, newCaptureSet, nextCaptureSet } from "../capture/writer.ts";
import { OutputError } from "../errors.ts";
import type { CaptureSet, SegmentItem } from "../event.ts";
import { PathTakenError } from "../files.ts";
import { lockExclusive, waitWritable } from "../kernel/ffi.ts";

export interface RotationOptions {
  /** start a new file once this one holds this many bytes */
  sizeBytes?: number;
  /** start a new file after this long */
  everyMs?: number;
  /** keep at most this many files of the set, deleting the oldest */
  maxFiles?: number;
}

export interface FilesOptions {
  /** the first file's path, or STDOUT: the capture goes to standard output as it is written, never rotated */
  out: string;
  force: boolean;
  segmentEvents?: number;
  segmentMs?: number;
  signKey?: KeyObject;
  rotate: RotationOptions;
}

/**
 * What a rotation did. `taken`: names passed over because something was
 * there; `kept`: old files --max-files could not delete.
 */
export interface RotationReport {
  closed: string;
  opened: string;
  /** the opened file's first key fingerprint (what `verify --pin` takes) */
  fingerprint: string;
  taken: { file: string; why: string }[];
  deleted: string[];
  kept: { file: string; why: string }[];
}

export interface FilesStats {
  events: number;
  aggregates: number;
  aggregatedCalls: number;
  bytes: number;
  segments: number;
  /** the files of the set still on disk, oldest first */
  files: string[];
}

/** `--out -`: standard output. */
export const STDOUT = "-";

const NOTHING = { events: 0, aggregates: 0, aggregatedCalls: 0, bytes: 0, segments: 0 };
/** Names tried in order before a rotation settles for one nobody can have guessed. */
const NAMES_TRIED = 64;

/**
 * A descriptor holding flock(LOCK_EX) on `path`, or an OutputError when another
 * dmrec holds it: a second recorder on a live capture would replace it.
 */
function lockPath(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  if (lockExclusive(fd)) return fd;
  closeSync(fd);
  throw new OutputError(path, "is being recorded by another dmrec (it holds the file's lock); choose another --out");
}

/** Throws when `path` is an existing capture that a live recorder holds. */
function assertNotLive(path: string): void {
  let fd: number;
  try {
    fd = lockPath(path);
  } catch (e) {
    // Nothing there, or nothing we could open: openNewFile judges it.
    if (e instanceof OutputError) throw e;
    return;
  }
  closeSync(fd);
}

export class CaptureFiles {
  private writer: CaptureWriter;
  private set: CaptureSet = newCaptureSet();
  /** when --rotate-every is next due: a fixed schedule, so rotations do not drift later and later */
  private rotateAtMs = Infinity;
  private readonly files: string[] = [];
  /** the name index to try next: names and file indexes part when a name is taken */
  private nextName = 2;
  /** locks held: the first file's for the whole run (it names the set), and the current file's */
  private firstLock: number | undefined;
  private currentLock: number | undefined;
  /** totals of the files already closed; the open writer adds its own */
  private readonly closed = { ...NOTHING };
  /** the last file is sealed: its writer's counts are in `closed` */
  private sealed = false;

  /**
   * Creates the first file, `out`: an existing one only with --force, and
   * never one a live recorder holds.
   */
  constructor(
    private readonly opts: FilesOptions,
    private readonly header: (set: CaptureSet) => NewHeader,
  ) {
    if (opts.out === STDOUT) {
      this.writer = CaptureWriter.toStream(1, "standard output", this.header(this.set), { ...this.writerOptions(), waitWritable });
      this.files.push(STDOUT);
      return;
    }
    if (opts.force) assertNotLive(opts.out);
    this.writer = this.create(opts.out, opts.force);
    this.firstLock = lockPath(opts.out);
    if (opts.rotate.everyMs !== undefined) this.rotateAtMs = Date.now() + opts.rotate.everyMs;
  }

  /** The first file's first key fingerprint: what `record` prints for `verify --pin`. */
  get fingerprint(): string {
    return this.writer.firstKeyFingerprint;
  }

  private writerOptions() {
    return { segmentEvents: this.opts.segmentEvents, segmentMs: this.opts.segmentMs, signKey: this.opts.signKey };
  }

  private create(path: string, force: boolean, firstKey?: ChainKey): CaptureWriter {
    const w = CaptureWriter.create(path, this.header(this.set), { ...this.writerOptions(), force, firstKey });
    this.files.push(path);
    return w;
  }

  /**
   * The next file of the set, at the first free name: a planted file or
   * symlink is passed over (and reported), never replaced or followed, so
   * that nobody who can write the directory stops or redirects the
   * recording. After NAMES_TRIED taken names, a random one.
   */
  private openNext(taken: RotationReport["taken"], firstKey: ChainKey): CaptureWriter {
    for (let tries = 0; ; tries++) {
      const path =
        tries < NAMES_TRIED ? rotatedPath(this.opts.out, this.nextName++) : rotatedPath(this.opts.out, 1).replace(/(\.cbor\.zst)?$/, `.${randomUUID()}.cbor.zst`);
      try {
        return this.create(path, false, firstKey);
      } catch (e) {
        if (!(e instanceof PathTakenError) || tries > NAMES_TRIED) throw e;
        taken.push({ file: path, why: e.message });
      }
    }
  }

  write(item: SegmentItem): void {
    this.writer.write(item);
  }

  /** Writes the open segment if it is due by time (CaptureWriter.tick). */
  tick(nowMs: number): void {
    this.writer.tick(nowMs);
  }

  /** Writes the open segment now. */
  flush(): void {
    this.writer.flush();
  }

  /** A stream is one capture: it is never rotated. */
  get rotatable(): boolean {
    return this.opts.out !== STDOUT;
  }

  /** By size or age; a SIGHUP is the caller's to add. */
  rotationDue(nowMs: number): boolean {
    const r = this.opts.rotate;
    return (r.sizeBytes !== undefined && this.writer.stats.bytes >= r.sizeBytes) || nowMs >= this.rotateAtMs;
  }

  /** Seals the current file, opens the next, and deletes what --max-files no longer keeps. */
  rotate(): RotationReport {
    const every = this.opts.rotate.everyMs;
    if (every !== undefined) {
      // A rotation for another reason starts the schedule afresh; one that fell a whole period behind catches up.
      const now = Date.now();
      this.rotateAtMs = now >= this.rotateAtMs && now < this.rotateAtMs + every ? this.rotateAtMs + every : now + every;
    }
    const old = this.writer;
    // The old file's seal vouches for the new file's first key: the set is one chain of keys.
    const firstKey = new ChainKey();
    let finalHash: Uint8Array;
    try {
      finalHash = old.close(firstKey.publicKey).finalHash;
    } catch (e) {
      firstKey.discard();
      throw e;
    }
    this.addClosed(old);
    const closed = this.files[this.files.length - 1]!;
    this.set = nextCaptureSet(this.set, finalHash);
    const taken: RotationReport["taken"] = [];
    try {
      this.writer = this.openNext(taken, firstKey);
    } catch (e) {
      firstKey.discard();
      throw e;
    }
    const opened = this.files[this.files.length - 1]!;
    if (this.currentLock !== undefined) closeSync(this.currentLock);
    this.currentLock = lockPath(opened);
    const max = this.opts.rotate.maxFiles;
    const expired = max === undefined ? [] : this.files.splice(0, Math.max(0, this.files.length - max));
    const deleted: string[] = [];
    const kept: { file: string; why: string }[] = [];
    for (const f of expired) {
      // Deleting old evidence is a courtesy: failing at it must not stop the recording.
      try {
        unlinkSync(f);
        deleted.push(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") deleted.push(f);
        else kept.push({ file: f, why: (e as Error).message });
      }
    }
    return { closed, opened, fingerprint: this.writer.firstKeyFingerprint, taken, deleted, kept };
  }

  /** Seals the current file and lets the locks go. */
  close(): void {
    this.writer.close();
    this.addClosed(this.writer);
    this.sealed = true;
    this.unlock();
  }

  /** For error paths: closes without a seal, as a crash would, keeping what was written. */
  abandon(): void {
    this.writer.abandon();
    this.unlock();
  }

  /** Once only: a descriptor number closed twice may by then be someone else's. */
  private unlock(): void {
    for (const fd of [this.firstLock, this.currentLock]) if (fd !== undefined) closeSync(fd);
    this.firstLock = undefined;
    this.currentLock = undefined;
  }

  get stats(): FilesStats {
    const w = this.sealed ? NOTHING : this.writer.stats;
    return {
      events: this.closed.events + w.events,
      aggregates: this.closed.aggregates + w.aggregates,
      aggregatedCalls: this.closed.aggregatedCalls + w.aggregatedCalls,
      bytes: this.closed.bytes + w.bytes,
      segments: this.closed.segments + w.segments,
      files: [...this.files],
    };
  }

  private addClosed(w: CaptureWriter): void {
    const s = w.stats;
    this.closed.events += s.events;
    this.closed.aggregates += s.aggregates;
    this.closed.aggregatedCalls += s.aggregatedCalls;
    this.closed.bytes += s.bytes;
    this.closed.segments += s.segments;
  }
}
