// `dmrec keygen`: an Ed25519 key pair for signing seals, PREFIX.key and PREFIX.pub.
import { fingerprint, loadPublicKey, writeKeyPair } from "../keys.ts";

export async function keygenCommand(o: { out: string; force: boolean }): Promise<number> {
  const [key, pub] = writeKeyPair(o.out, o.force);
  // The fingerprint is what a verifier compares the seals' `signed_by` with.
  const fp = fingerprint(loadPublicKey(pub));
  process.stderr.write(`dmrec: wrote ${key} (private, keep it on the recording host) and ${pub} (for verify --pubkey); fingerprint ${fp}\n`);
  return 0;
}
