// Writes a capture (docs/FORMAT.md): the header in a zstd frame of its own,
// then events, aggregates and loss records in segments, each one zstd frame
// holding a CBOR sequence followed by its trailer (a skippable frame: the
// segment's index entry and its chain hash), written together and fsync'd as
// the segment closes so that a crash loses at most the open segment; and at
// a clean close, the seal. Every segment and the seal are signed by the
// forward-secure key chain (keychain.ts), each by a key used once. Items are
// encoded as they come into the open segment's buffer (encode.ts: the hot path).
import { createPublicKey, type KeyObject, randomUUID, sign } from "node:crypto";
import { closeSync, fsyncSync, ftruncateSync, unlinkSync, writeSync } from "node:fs";
import { concat } from "../bytes.ts";
import { OutputError } from "../errors.ts";
import type { CaptureHeader, CaptureSet, CaptureSigning, SealInfo, SegmentInfo, SegmentItem } from "../event.ts";
import { zstdCompress } from "../runtime.ts";
import { headerHash, sealHash, segmentHash } from "./chain.ts";
import { encodeItem, encodeMetaInfo, encodeSealHash, encodeSegmentHash } from "./encode_checked.ts";
import { SegmentEncoder } from "./encode.ts";
import { describeFsError, fsyncDirectory, openNewFile } from "../files.ts";
import { fingerprint } from "../keys.ts";
import { CHAIN_SCHEME, ChainKey, endorsementMessage, keyFingerprint, sealMessage, segmentMessage } from "./keychain.ts";
import { FORMAT_VERSION } from "./schema.ts";
import { Totals } from "./totals.ts";
import { skippableFrame } from "./zstd_frames.ts";

export interface WriterOptions {
  /** replace an existing regular file (never a symlink or anything else) */
  force?: boolean;
  /** close a segment after this many items (default DEFAULT_SEGMENT_EVENTS) */
  segmentEvents?: number;
  /** close a segment this long after its first item, checked by tick() (default 1000) */
  segmentMs?: number;
  /** long-term Ed25519 private key (node:crypto) that endorses the file's first chain key */
  signKey?: KeyObject;
  /** the chain's first key: the one the previous file of the set named in its seal; default a new one */
  firstKey?: ChainKey;
  /** where the chain's keys come from: default fresh random ones (fixtures and tests pin theirs) */
  newKey?: () => ChainKey;
  /** wall clock for the seal's closed_ns (tests and fixtures pin it); default Date.now() */
  nowNs?: () => bigint;
}

/** What close() returns. */
export interface CloseResult {
  /** the file's final chain hash: what the next file of a rotation set names as prev_file_hash */
  finalHash: Uint8Array;
}

/** What the writer fills in itself: the version it writes, and its key chain. */
export type NewHeader = Omit<CaptureHeader, "version" | "signing">;

/** Where a capture goes: a file of its own, or a stream (standard output) that leaves the host as it is written. */
interface Sink {
  fd: number;
  /** positional writes, fsync, and cutting a failed write back: a regular file */
  file: boolean;
  /** for a non-blocking stream: returns once it can be written again */
  waitWritable?: (fd: number) => void;
}

/** The `set` of a capture that starts a new rotation set (or is a file on its own). */
export function newCaptureSet(): CaptureSet {
  return { id: randomUUID(), file_index: 1, prev_file_hash: null };
}

/** The `set` of the file that follows `prev` in its rotation set, once `prev` was closed with `prevFinalHash`. */
export function nextCaptureSet(prev: CaptureSet, prevFinalHash: Uint8Array): CaptureSet {
  return { id: prev.id, file_index: prev.file_index + 1, prev_file_hash: new Uint8Array(prevFinalHash) };
}

/** At most this many module names in a segment's index entry ... */
export const INDEX_MAX_MODULES = 256;
/** ... each at most this long; others make the entry incomplete. */
export const INDEX_MAX_NAME_BYTES = 255;

export interface WriterStats {
  /** event items written to disk */
  events: number;
  /** loss records written to disk */
  losses: number;
  /** aggregate records written to disk */
  aggregates: number;
  /** calls those aggregates count: the sum of their `count` */
  aggregatedCalls: number;
  /** segments written, not counting the header frame */
  segments: number;
  /** bytes in the file */
  bytes: number;
}

/**
 * Each segment costs an fsync and its trailer: at 400,000 events a second,
 * segments of 1,000 dropped 13% of them into aggregates, of 4,096 0.1%. On a
 * calm host segments close by time (DEFAULT_SEGMENT_MS) long before.
 */
export const DEFAULT_SEGMENT_EVENTS = 4096;
export const DEFAULT_SEGMENT_MS = 1000;
/**
 * A segment is closed before its CBOR reaches this size, whatever the item
 * count, so that every reader can decompress it in one piece
 * (src/capture/limits.ts allows this and one more item of MAX_ITEM_BYTES).
 */
export const MAX_SEGMENT_CONTENT = 16 * 1024 * 1024;

/**
 * The open segment's index entry, built as items are added. Its time range
 * and module names are the events' only (docs/FORMAT.md, "Segment trailer").
 */
class SegmentIndex {
  readonly counts = new Totals();
  private readonly names = new Map<string, Uint8Array>();
  private complete = true;

  add(item: SegmentItem): void {
    this.counts.addItem(item);
    if (item.type !== "event") return;
    const name = item.name;
    if (name === null || !this.complete) return;
    if (name.length > INDEX_MAX_NAME_BYTES) {
      this.complete = false;
      return;
    }
    // One character per byte: a lossless string key (a loop: spreading a
    // typed array into fromCharCode costs more than the whole encoding).
    let key = "";
    for (let i = 0; i < name.length; i++) key += String.fromCharCode(name[i]!);
    if (this.names.has(key)) return;
    if (this.names.size >= INDEX_MAX_MODULES) this.complete = false;
    else this.names.set(key, new Uint8Array(name));
  }

  info(index: number): SegmentInfo {
    const c = this.counts;
    return {
      type: "segment",
      index,
      events: c.events,
      losses: c.losses,
      lost_calls: c.lostCalls,
      aggregates: c.aggregates,
      aggregated_calls: c.aggregatedCalls,
      clock_steps: c.clockSteps,
      first_ts_ns: c.ts.min,
      last_ts_ns: c.ts.max,
      modules: [...this.names.values()],
      modules_complete: this.complete,
    };
  }
}

export class CaptureWriter {
  private fd: number | undefined;
  /** why the writer stopped accepting items, after a failed write */
  private failure: OutputError | undefined;
  private readonly segment = new SegmentEncoder();
  private index = new SegmentIndex();
  private segmentOpenedMs: number | undefined;
  /** what the segments written hold: the sum of their index entries */
  private readonly file = new Totals();
  private bytes = 0;
  /** the chain hash so far: the header's, then each segment's */
  private chain: Uint8Array;
  private sealed: CloseResult | undefined;
  /** the key that signs the next segment (or the seal), used once */
  private key: ChainKey;
  /** SHA-256 of the chain's first public key, hex: what `verify --pin` takes */
  readonly firstKeyFingerprint: string;

  private constructor(
    readonly path: string,
    private readonly sink: Sink,
    headerHash: Uint8Array,
    private readonly setup: Setup,
    firstKey: ChainKey,
  ) {
    this.fd = sink.fd;
    this.chain = headerHash;
    this.key = firstKey;
    this.firstKeyFingerprint = keyFingerprint(firstKey.publicKey);
  }

  /**
   * Creates the capture (see openNewFile) and writes its header frame.
   * Throws OutputError when the file cannot be created or written, RangeError
   * or TypeError for bad options.
   */
  static create(path: string, header: NewHeader, opts: WriterOptions = {}): CaptureWriter {
    const { setup, firstKey, headerFrame } = prepare(header, opts);
    const fd = openNewFile(path, { force: opts.force ?? false });
    const writer = new CaptureWriter(path, { fd, file: true }, headerHash(headerFrame), setup, firstKey);
    try {
      writer.writeBytes(headerFrame, "writing the header");
      fsyncDirectory(path);
    } catch (e) {
      writer.abandon();
      // Nothing useful is in it; it was created by this call, so it is ours.
      try {
        unlinkSync(path);
      } catch {
        // Left behind empty or partial: readers call it an empty or truncated file.
      }
      throw e;
    }
    return writer;
  }

  /**
   * Writes the capture to `fd` (standard output, a pipe), named `label` in
   * errors: frames go out as they are written, and nothing is ever taken
   * back. The descriptor is the caller's: close() leaves it open.
   */
  static toStream(
    fd: number,
    label: string,
    header: NewHeader,
    opts: Omit<WriterOptions, "force"> & { waitWritable?: (fd: number) => void } = {},
  ): CaptureWriter {
    const { setup, firstKey, headerFrame } = prepare(header, opts);
    const writer = new CaptureWriter(label, { fd, file: false, waitWritable: opts.waitWritable }, headerHash(headerFrame), setup, firstKey);
    writer.writeBytes(headerFrame, "writing the header");
    return writer;
  }

  get stats(): Readonly<WriterStats> {
    const f = this.file;
    return { events: f.events, losses: f.losses, aggregates: f.aggregates, aggregatedCalls: f.aggregatedCalls, segments: f.segments, bytes: this.bytes };
  }

  /** The final hash, once close() has written the seal; undefined before. */
  get finalHash(): Uint8Array | undefined {
    return this.sealed && new Uint8Array(this.sealed.finalHash);
  }

  /**
   * Appends an item to the open segment, closing the segment when it is
   * full. Throws InvalidItemError for an item the reader would refuse
   * (nothing of it is written), OutputError if closing the segment fails,
   * and OutputError on every call after that.
   */
  write(item: SegmentItem): void {
    this.usable();
    const start = this.segment.length;
    this.segment.append(item);
    // The item that would take the segment past the limit opens the next one.
    if (start > 0 && this.segment.length > MAX_SEGMENT_CONTENT) this.writeSegment(start);
    this.index.add(item);
    this.segmentOpenedMs ??= Date.now();
    if (this.index.counts.items >= this.setup.segmentEvents) this.flush();
  }

  /**
   * Writes the open segment if its first item is segmentMs old by `nowMs`
   * (a Date.now() value). A clock that stepped back also writes it, so a
   * clock change cannot hold events in memory. Returns whether it wrote.
   */
  tick(nowMs: number = Date.now()): boolean {
    this.usable();
    const opened = this.segmentOpenedMs;
    if (opened === undefined || (nowMs - opened < this.setup.segmentMs && nowMs >= opened)) return false;
    this.flush();
    return true;
  }

  /**
   * Writes the open segment now, if it has any items: its data frame and
   * its trailer, in one write, then fsync.
   */
  flush(): void {
    this.usable();
    if (this.segment.length > 0) this.writeSegment(this.segment.length);
  }

  /** Writes the first `end` bytes of the open segment, all the items the index holds, as a segment. */
  private writeSegment(end: number): void {
    const idx = this.index;
    const number = this.file.segments + 1;
    const data = zstdCompress(this.segment.contents().subarray(0, end));
    const info = idx.info(number);
    const infoRaw = encodeMetaInfo(info);
    const hash = segmentHash(this.chain, data, infoRaw);
    // This segment's key vouches for the next one's and is gone before the segment is out.
    const next = this.setup.newKey();
    const signature = this.key.sign(segmentMessage(hash, next.publicKey));
    this.key = next;
    const trailer = skippableFrame(concat([infoRaw, encodeSegmentHash({ hash, next_key: next.publicKey, signature }, FORMAT_VERSION)]));
    this.writeBytes(concat([data, trailer]), `writing segment ${number}, whose ${idx.counts.items} items are not in the file`);
    this.chain = hash;
    this.file.addEntry(info);
    this.segment.discard(end);
    this.index = new SegmentIndex();
    this.segmentOpenedMs = undefined;
  }

  /**
   * Writes the open segment and the seal, signed by the chain's last key
   * and naming `nextFileKey` (the next file's first key, when the recording
   * goes on in another file of its set), fsyncs and closes the file, and
   * returns the final hash. Throws OutputError if a write fails: the file
   * then has no seal. Calling it again returns the same result.
   */
  close(nextFileKey: Uint8Array | null = null): CloseResult {
    if (this.sealed) return { finalHash: new Uint8Array(this.sealed.finalHash) };
    if (this.fd === undefined) throw new OutputError(this.path, "capture already closed without a seal");
    const fd = this.fd;
    try {
      this.flush();
      this.writeSeal(nextFileKey);
    } finally {
      this.fd = undefined;
      this.key.discard();
      try {
        if (this.sink.file) closeSync(fd);
      } catch (e) {
        // A write error, if any, is the one propagating.
        if (!this.failure) throw new OutputError(this.path, `closing: ${describeFsError(e)}`);
      }
    }
    return { finalHash: new Uint8Array(this.sealed!.finalHash) };
  }

  /**
   * For error paths: closes the file without a seal (an unclean close, as a
   * crash would leave it) and without throwing, after trying to write the
   * open segment (its items are lost if that fails too). Segments already
   * written stay readable and verifiable. Does nothing after close().
   */
  abandon(): void {
    if (this.fd === undefined) return;
    try {
      if (!this.failure) this.flush();
    } catch {
      // The error that sent the caller here is the one to report.
    }
    try {
      if (this.sink.file) closeSync(this.fd);
    } catch {
      // Same: nothing more can be done for this file.
    }
    this.fd = undefined;
    this.key.discard();
  }

  private writeSeal(nextFileKey: Uint8Array | null): void {
    const info: SealInfo = {
      type: "seal",
      segments: this.file.segments,
      events: this.file.events,
      losses: this.file.losses,
      lost_calls: this.file.lostCalls,
      aggregates: this.file.aggregates,
      aggregated_calls: this.file.aggregatedCalls,
      clock_steps: this.file.clockSteps,
      first_ts_ns: this.file.ts.min,
      last_ts_ns: this.file.ts.max,
      closed_ns: this.setup.nowNs(),
      final_hash: this.chain,
      signed_by: this.setup.endorsedBy,
    };
    const infoRaw = encodeMetaInfo(info);
    const hash = sealHash(this.chain, infoRaw);
    const signature = this.key.sign(sealMessage(hash, nextFileKey));
    const seal = skippableFrame(concat([infoRaw, encodeSealHash({ hash, signature, next_file_key: nextFileKey }, FORMAT_VERSION)]));
    this.writeBytes(seal, "writing the seal");
    this.sealed = { finalHash: this.chain };
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.fd === undefined) throw new OutputError(this.path, "capture already closed");
  }

  /**
   * Appends bytes (a frame, or a segment and its trailer) and fsyncs them.
   * On failure a file is cut back to where it ended before, so that a full
   * disk leaves a capture that ends cleanly after a complete segment rather
   * than a torn one, and the writer refuses further items. A stream cannot
   * be cut back: its reader sees a truncated segment.
   */
  private writeBytes(bytes: Uint8Array, what: string): void {
    const fd = this.fd!;
    const start = this.bytes;
    const { file, waitWritable } = this.sink;
    try {
      for (let off = 0; off < bytes.length; ) {
        try {
          off += writeSync(fd, bytes, off, bytes.length - off, file ? start + off : null);
        } catch (e) {
          if (!waitWritable || (e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
          waitWritable(fd);
        }
      }
      if (file) fsyncSync(fd);
    } catch (e) {
      if (file) {
        try {
          ftruncateSync(fd, start);
          fsyncSync(fd);
        } catch {
          // The torn tail stays; a reader reports it as a truncated segment.
        }
      }
      this.failure = new OutputError(this.path, `${describeFsError(e)} (${what})`);
      throw this.failure;
    }
    this.bytes += bytes.length;
  }
}

/** What a writer keeps of its options. */
interface Setup {
  segmentEvents: number;
  segmentMs: number;
  nowNs: () => bigint;
  newKey: () => ChainKey;
  /** the long-term key's fingerprint, when it endorsed the first key: the seal's signed_by */
  endorsedBy: string | null;
}

/**
 * Checks the options and encodes the header frame, with the version and the
 * key chain's first key (endorsed by signKey when given), before anything is
 * created: a bad header or option leaves nothing behind.
 */
function prepare(header: NewHeader, opts: WriterOptions): { setup: Setup; firstKey: ChainKey; headerFrame: Uint8Array } {
  const segmentEvents = opts.segmentEvents ?? DEFAULT_SEGMENT_EVENTS;
  const segmentMs = opts.segmentMs ?? DEFAULT_SEGMENT_MS;
  if (!Number.isSafeInteger(segmentEvents) || segmentEvents < 1) {
    throw new RangeError(`segmentEvents must be a positive integer, got ${segmentEvents}`);
  }
  if (!(segmentMs > 0)) throw new RangeError(`segmentMs must be positive, got ${segmentMs}`);
  const signKey = opts.signKey;
  if (signKey && (signKey.type !== "private" || signKey.asymmetricKeyType !== "ed25519")) {
    throw new TypeError(`signKey must be an Ed25519 private key, got a ${signKey.asymmetricKeyType ?? "symmetric"} ${signKey.type} key`);
  }
  const newKey = opts.newKey ?? (() => new ChainKey());
  const firstKey = opts.firstKey ?? newKey();
  if (firstKey.used) throw new TypeError("firstKey has already signed");
  const { id, file_index } = header.set;
  const endorsedBy = signKey ? fingerprint(createPublicKey(signKey)) : null;
  const signing: CaptureSigning = {
    scheme: CHAIN_SCHEME,
    first_key: firstKey.publicKey,
    endorsement: signKey
      ? { fingerprint: endorsedBy!, signature: new Uint8Array(sign(null, endorsementMessage(id, file_index, firstKey.publicKey), signKey)) }
      : null,
  };
  const headerFrame = zstdCompress(encodeItem({ ...header, version: FORMAT_VERSION, signing }));
  const nowNs = opts.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
  return { setup: { segmentEvents, segmentMs, nowNs, newKey, endorsedBy }, firstKey, headerFrame };
}
