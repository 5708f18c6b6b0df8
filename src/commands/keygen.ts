// `dmrec keygen`: an Ed25519 key pair for signing seals, PREFIX.key and PREFIX.pub.
import { closeSync, existsSync, unlinkSync, writeSync } from "node:fs";
import { openNewFile } from "../capture/writer.ts";
import { OutputError } from "../errors.ts";
import { generateKeyPair } from "../keys.ts";

export async function keygenCommand(o: { out: string; force: boolean }): Promise<number> {
  const pair = generateKeyPair();
  const files = [
    [`${o.out}.key`, pair.privatePem],
    [`${o.out}.pub`, pair.publicPem],
  ] as const;
  // Both or neither: never a new private key beside an old public one.
  if (!o.force) {
    for (const [path] of files) if (existsSync(path)) throw new OutputError(path, "exists (use --force to overwrite)");
  }
  const written: string[] = [];
  try {
    for (const [path, pem] of files) {
      const fd = openNewFile(path, { force: o.force });
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
  process.stderr.write(`dmrec: wrote ${written[0]} (private, keep it on the recording host) and ${written[1]} (for verify --pubkey)\n`);
  return 0;
}
