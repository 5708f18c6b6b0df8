// Ed25519 keys for signing seals (docs/FORMAT.md, "Seal"): PEM files, PKCS#8
// for the private key and SPKI for the public key, as `openssl genpkey
// -algorithm ed25519` and `openssl pkey -pubout` write them, read with a size
// bound whatever the path names. node:crypto only, so that Deno can verify too.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { closeSync, existsSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { openNewFile } from "./files.ts";
import { InputError, OutputError } from "./errors.ts";

export interface PemKeyPair {
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") */
  privatePem: string;
  /** SPKI PEM ("-----BEGIN PUBLIC KEY-----") */
  publicPem: string;
}

/** A new Ed25519 key pair, as PEM text. */
export function generateKeyPair(): PemKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicPem: publicKey.export({ type: "spki", format: "pem" }) as string,
  };
}

/** Size of a key file worth reading: PEM Ed25519 keys are ~120 bytes. */
const MAX_KEY_FILE = 64 * 1024;

function keyFileError(path: string, e: unknown): InputError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new InputError(path, "no such key file");
  if (code === "EACCES" || code === "EPERM") return new InputError(path, "permission denied");
  if (code === "EISDIR") return new InputError(path, "is a directory, not a key file");
  return new InputError(path, e instanceof Error ? e.message : String(e));
}

/**
 * A key file's text, read only up to MAX_KEY_FILE + 1 bytes whatever it is
 * (a device, a pipe, a huge file): a larger one is refused without reading on.
 */
function readKeyFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw keyFileError(path, e);
  }
  const data = new Uint8Array(MAX_KEY_FILE + 1);
  let length = 0;
  try {
    if (fstatSync(fd).isDirectory()) throw new InputError(path, "is a directory, not a key file");
    for (let got = -1; got !== 0 && length < data.length; length += got) got = readSync(fd, data, length, data.length - length, null);
  } catch (e) {
    throw e instanceof InputError ? e : keyFileError(path, e);
  } finally {
    closeSync(fd);
  }
  if (length > MAX_KEY_FILE) throw new InputError(path, `not a PEM key file (larger than ${MAX_KEY_FILE} bytes)`);
  const text = Buffer.from(data.subarray(0, length)).toString("latin1");
  if (!text.includes("-----BEGIN ")) throw new InputError(path, "not a PEM key file (no -----BEGIN line)");
  return text;
}

function keyKind(key: KeyObject): string {
  return key.asymmetricKeyType ? `${key.asymmetricKeyType} key` : "secret key";
}

/** An Ed25519 private key from a PKCS#8 PEM file; InputError for anything else. */
export function loadPrivateKey(path: string): KeyObject {
  const pem = readKeyFile(path);
  if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(pem) === false) {
    if (pem.includes("-----BEGIN PUBLIC KEY-----")) {
      throw new InputError(path, "is a public key; signing needs the private key (PKCS#8 PEM)");
    }
    throw new InputError(path, "not a PKCS#8 PEM private key (expected -----BEGIN PRIVATE KEY-----)");
  }
  if (pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
    throw new InputError(path, "is an encrypted private key; dmrec needs it unencrypted");
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (e) {
    throw new InputError(path, `invalid private key (${e instanceof Error ? e.message : String(e)})`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new InputError(path, `is not an Ed25519 key (${keyKind(key)}); dmrec signs with Ed25519 only`);
  return key;
}

/** An Ed25519 public key from an SPKI PEM file; InputError for anything else. */
export function loadPublicKey(path: string): KeyObject {
  const pem = readKeyFile(path);
  if (!pem.includes("-----BEGIN PUBLIC KEY-----")) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      throw new InputError(path, "is a private key; give the public key (SPKI PEM) instead");
    }
    throw new InputError(path, "not an SPKI PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch (e) {
    throw new InputError(path, `invalid public key (${e instanceof Error ? e.message : String(e)})`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new InputError(path, `is not an Ed25519 key (${keyKind(key)}); dmrec verifies Ed25519 only`);
  return key;
}

/** The raw 32-byte Ed25519 public key. */
export function rawPublicKey(publicKey: KeyObject): Uint8Array {
  const key = publicKey.type === "private" ? createPublicKey(publicKey) : publicKey;
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError(`not an Ed25519 key: ${keyKind(key)}`);
  // SPKI DER of Ed25519 is a fixed 12-byte prefix and the raw key.
  const der = key.export({ type: "spki", format: "der" });
  if (der.length !== 44) throw new TypeError(`unexpected Ed25519 SPKI length ${der.length}`);
  return new Uint8Array(der.subarray(12));
}

/** SHA-256 of the raw 32-byte public key, lowercase hex: the seal's `signed_by`. */
export function fingerprint(publicKey: KeyObject): string {
  return createHash("sha256").update(rawPublicKey(publicKey)).digest("hex");
}

/**
 * Writes a new pair as PREFIX.key (private) and PREFIX.pub, both 0600, and
 * returns their paths and the key's fingerprint, from the key made, not the file
 * read back: both files or neither, never a new private key beside an old public one.
 */
export function writeKeyPair(prefix: string, force: boolean): { key: string; pub: string; fingerprint: string } {
  const pair = generateKeyPair();
  const files = [
    [`${prefix}.key`, pair.privatePem],
    [`${prefix}.pub`, pair.publicPem],
  ] as const;
  if (!force) {
    for (const [path] of files) if (existsSync(path)) throw new OutputError(path, "exists (use --force to overwrite)");
  }
  const written: string[] = [];
  try {
    for (const [path, pem] of files) {
      const fd = openNewFile(path, { force });
      written.push(path);
      try {
        writeSync(fd, pem);
      } catch (e) {
        throw new OutputError(path, (e as Error).message);
      } finally {
        closeSync(fd);
      }
    }
  } catch (e) {
    for (const path of written) unlinkSync(path);
    throw e;
  }
  return { key: files[0][0], pub: files[1][0], fingerprint: fingerprint(createPublicKey(pair.publicPem)) };
}
