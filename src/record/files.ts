// The files of one recording: a rotation set (docs/FORMAT.md, "Rotation
// sets") of captures, each with its own header and seal, the next file's
// header naming the previous one's final hash. Rotating, deleting the oldest
// beyond --max-files and keeping the totals of closed files are here, so the
// record loop only says when.
import type { KeyObject } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { CaptureWriter, newCaptureSet, nextCaptureSet } from "../capture/writer.ts";
import { OutputError } from "../errors.ts";
import type { CaptureHeader, CaptureSet, SegmentItem } from "../event.ts";

export interface RotationOptions {
  /** start a new file once this one holds this many bytes */
  sizeBytes?: number;
  /** start a new file after this long */
  everyMs?: number;
  /** keep at most this many files of the set, deleting the oldest */
  maxFiles?: number;
}

export interface FilesOptions {
  out: string;
  force: boolean;
  segmentEvents?: number;
  segmentMs?: number;
  signKey?: KeyObject;
  rotate: RotationOptions;
}

/** What a rotation did. `kept`: old files --max-files could not delete. */
export interface RotationReport {
  closed: string;
  opened: string;
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

/** File N of a rotation set: the first is `out` itself, then capture.000002.cbor.zst, ... */
export function rotatedPath(out: string, index: number): string {
  if (index === 1) return out;
  const stem = out.endsWith(".cbor.zst") ? out.slice(0, -".cbor.zst".length) : out;
  return `${stem}.${String(index).padStart(6, "0")}.cbor.zst`;
}

const NOTHING = { events: 0, aggregates: 0, aggregatedCalls: 0, bytes: 0, segments: 0 };

export class CaptureFiles {
  private writer: CaptureWriter;
  private set: CaptureSet = newCaptureSet();
  /** when --rotate-every is next due: a fixed schedule, so rotations do not drift later and later */
  private rotateAtMs = Infinity;
  private readonly files: string[] = [];
  /** totals of the files already closed; the open writer adds its own */
  private readonly closed = { ...NOTHING };
  /** the last file is sealed: its writer's counts are in `closed` */
  private sealed = false;

  /**
   * Creates the first file. A rotation that finds its next file already
   * there (an earlier run's) must not stop a recording hours in: without
   * --force, that is refused now.
   */
  constructor(
    private readonly opts: FilesOptions,
    private readonly header: (set: CaptureSet) => CaptureHeader,
  ) {
    const taken = rotatedPath(opts.out, 2);
    if (!opts.force && existsSync(taken)) {
      throw new OutputError(taken, "exists, from an earlier rotated recording (use --force to overwrite the set, or another --out)");
    }
    this.writer = this.open();
    if (opts.rotate.everyMs !== undefined) this.rotateAtMs = Date.now() + opts.rotate.everyMs;
  }

  private open(): CaptureWriter {
    const path = rotatedPath(this.opts.out, this.set.file_index);
    const w = CaptureWriter.create(path, this.header(this.set), {
      force: this.opts.force,
      segmentEvents: this.opts.segmentEvents,
      segmentMs: this.opts.segmentMs,
      signKey: this.opts.signKey,
    });
    this.files.push(path);
    return w;
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
    const { finalHash } = old.close();
    this.addClosed(old);
    const closed = this.files[this.files.length - 1]!;
    this.set = nextCaptureSet(this.set, finalHash);
    this.writer = this.open();
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
    return { closed, opened: this.files[this.files.length - 1]!, deleted, kept };
  }

  /** Seals the current file. */
  close(): void {
    this.writer.close();
    this.addClosed(this.writer);
    this.sealed = true;
  }

  /** For error paths: closes without a seal, as a crash would, keeping what was written. */
  abandon(): void {
    this.writer.abandon();
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
