/**
 * Test participants that sign the way a wallet does, through the aepp-sdk alone (not through lib/),
 * so the service's own encoding is checked against an independent implementation.
 */
import { AccountMemory, buildTx, Tag, unpackTx } from '@aeternity/aepp-sdk';

export const NETWORK_ID = 'ae_dev';

export type Participant = AccountMemory;

export function newParticipant(): Participant {
  return AccountMemory.generate();
}

/** Adds this account's signature to a SignedTx (or a bare tx), keeping the signatures already there. */
export async function cosign(account: AccountMemory, tx: string, networkId = NETWORK_ID): Promise<string> {
  const unpacked = unpackTx(tx as `tx_${string}`);
  const [inner, existing] = unpacked.tag === Tag.SignedTx
    ? [buildTx(unpacked.encodedTx), unpacked.signatures]
    : [tx as `tx_${string}`, []];
  const signed = unpackTx(await account.signTransaction(inner, { networkId }), Tag.SignedTx);
  return buildTx({ tag: Tag.SignedTx, signatures: [...existing, ...signed.signatures], encodedTx: inner });
}
