// `dmrec keygen`: an Ed25519 key pair for signing seals, PREFIX.key and PREFIX.pub.
import { closeSync, writeSync } from "node:fs";
import { openNewFile } from "../capture/writer.ts";
import { generateKeyPair } from "../keys.ts";

export async function keygenCommand(o: { out: string; force: boolean }): Promise<number> {
  const pair = generateKeyPair();
  const written: string[] = [];
  for (const [path, pem] of [
    [`${o.out}.key`, pair.privatePem],
    [`${o.out}.pub`, pair.publicPem],
  ] as const) {
    const fd = openNewFile(path, { force: o.force });
    try {
      writeSync(fd, pem);
    } finally {
      closeSync(fd);
    }
    written.push(path);
  }
  process.stderr.write(`dmrec: wrote ${written[0]} (private, keep it on the recording host) and ${written[1]} (for verify --pubkey)\n`);
  return 0;
}
