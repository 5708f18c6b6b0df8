// `dmrec keygen`: an Ed25519 key pair for signing seals, PREFIX.key and PREFIX.pub.
import { writeKeyPair } from "../keys.ts";

export async function keygenCommand(o: { out: string; force: boolean }): Promise<number> {
  const { key, pub, fingerprint } = writeKeyPair(o.out, o.force);
  // The fingerprint is what a verifier compares the seals' `signed_by` with.
  process.stderr.write(`dmrec: wrote ${key} (private, keep it on the recording host) and ${pub} (for verify --pubkey); fingerprint ${fingerprint}\n`);
  return 0;
}
