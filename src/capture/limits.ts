// What a reader of captures grants one frame, whatever the file says
// (docs/FORMAT.md, "Reading a capture: limits"). Every number here is far
// above what dmrec's writer produces, and low enough that a crafted frame
// costs bounded memory and time: the file's sizes and counts are never
// trusted before these have been checked.

/**
 * Largest item the writer takes: a real one is a few hundred bytes, a few
 * KiB with a long executable path.
 */
export const MAX_ITEM_BYTES = 1024 * 1024;
/**
 * Largest content of one standard frame, decompressed: the writer closes a
 * segment before its content passes 16 MiB (MAX_SEGMENT_CONTENT), with room
 * for the item that would have taken it past. Decompressing costs up to
 * twice the content in memory, which the garbage collector gives back late.
 */
export const MAX_CONTENT_BYTES = 16 * 1024 * 1024 + MAX_ITEM_BYTES;
/**
 * Largest standard frame, compressed: incompressible content grows by 3
 * bytes per 128 KiB block, so a frame holding MAX_CONTENT_BYTES fits.
 */
export const MAX_FRAME_BYTES = MAX_CONTENT_BYTES + 1024 * 1024;
/** Largest payload of a dmrec skippable frame (trailer, seal) that is decoded: real ones are a few hundred bytes. */
export const MAX_META_BYTES = 1024 * 1024;

/** Keys in one CBOR map: an event has 38. */
export const MAX_MAP_PAIRS = 4096;
/** Elements in one CBOR array: real arrays hold a few (flag names, argv), an index entry's names at most 256. */
export const MAX_ARRAY_ELEMENTS = 4096;
/** Containers nested in an item of a data frame (the header nests two deep). */
export const MAX_ITEM_DEPTH = 16;
/** The same in a trailer's or seal's payload (they nest two deep). */
export const MAX_META_DEPTH = 8;
/** Items in one frame: a 16 MiB segment of the smallest items (loss records) holds about 316,000. */
export const MAX_FRAME_ITEMS = 2 * 1024 * 1024;
/**
 * CBOR data items in one frame, containers' elements counted as they are
 * announced: a full segment of the densest items holds about 3 million.
 */
export const MAX_FRAME_DATA_ITEMS = 16 * 1024 * 1024;
/** Items in a trailer's or seal's payload: version 1 writes two. */
export const MAX_META_ITEMS = 16;
