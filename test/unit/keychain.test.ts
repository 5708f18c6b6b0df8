// The forward-secure key chain's primitives: one signature per key, domain
// separation between what is signed, and a key whose private half is gone.
import { describe, expect, test } from "bun:test";
import { createHash, createPublicKey } from "node:crypto";
import {
  ChainKey,
  endorsementMessage,
  keyFingerprint,
  sealMessage,
  segmentMessage,
  verifySignature,
} from "../../src/capture/keychain.ts";
import { fingerprint } from "../../src/keys.ts";

const hash = (s: string) => new Uint8Array(createHash("sha256").update(s).digest());

describe("ChainKey", () => {
  test("signs once: the signature verifies with its public key, a second signature is refused", () => {
    const k = new ChainKey();
    const next = new ChainKey();
    const msg = segmentMessage(hash("segment 1"), next.publicKey);
    const sig = k.sign(msg);
    expect(k.used).toBe(true);
    expect(verifySignature(k.publicKey, msg, sig)).toBe(true);
    expect(() => k.sign(msg)).toThrow(/signs once/);
  });

  test("any other message, key or signature fails", () => {
    const k = new ChainKey();
    const next = new ChainKey();
    const msg = segmentMessage(hash("segment 1"), next.publicKey);
    const sig = k.sign(msg);
    expect(verifySignature(k.publicKey, segmentMessage(hash("segment 2"), next.publicKey), sig)).toBe(false);
    expect(verifySignature(k.publicKey, segmentMessage(hash("segment 1"), new ChainKey().publicKey), sig)).toBe(false);
    expect(verifySignature(next.publicKey, msg, sig)).toBe(false);
    const flipped = sig.slice();
    flipped[10]! ^= 1;
    expect(verifySignature(k.publicKey, msg, flipped)).toBe(false);
    expect(verifySignature(new Uint8Array(32), msg, sig)).toBe(false);
    expect(verifySignature(k.publicKey, msg, sig.subarray(0, 63))).toBe(false);
  });

  test("a segment's signature cannot pass for a seal's or an endorsement's, nor the other way round", () => {
    const h = hash("x");
    const key = new ChainKey().publicKey;
    const messages = [segmentMessage(h, key), sealMessage(h, key), sealMessage(h, null), endorsementMessage("set", 1, key)];
    const hexes = messages.map((m) => Buffer.from(m).toString("hex"));
    expect(new Set(hexes).size).toBe(messages.length);
    // the file's place is bound: file 2 cannot reuse file 1's endorsement
    expect(Buffer.from(endorsementMessage("set", 1, key)).equals(Buffer.from(endorsementMessage("set", 2, key)))).toBe(false);
  });

  test("fingerprints are those keygen prints: SHA-256 of the raw public key", () => {
    const k = new ChainKey();
    const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(k.publicKey)]);
    expect(keyFingerprint(k.publicKey)).toBe(fingerprint(createPublicKey({ key: spki, format: "der", type: "spki" })));
  });

  test("keys are fresh: two chain keys never share a public key", () => {
    const keys = Array.from({ length: 50 }, () => Buffer.from(new ChainKey().publicKey).toString("hex"));
    expect(new Set(keys).size).toBe(50);
  });
});
