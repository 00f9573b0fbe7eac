/**
 * Test participants that sign the way a wallet does, through the aepp-sdk alone (not through lib/),
 * so the service's own encoding is checked against an independent implementation.
 */
import { AccountMemory, buildTx, Tag, unpackTx } from '../../lib/sdk.js';

export const NETWORK_ID = 'ae_dev';

export type Participant = AccountMemory;

export function newParticipant(): Participant {
  return AccountMemory.generate();
}

/** A SignedTx unpacked by the aepp-sdk (its published types leave the fields out of the union). */
export function unpackSignedTx(tx: string): { signatures: Uint8Array[]; encodedTx: Record<string, unknown> & { tag: number } } {
  return unpackTx(tx as `tx_${string}`, Tag.SignedTx) as unknown as ReturnType<typeof unpackSignedTx>;
}

/** Adds this account's signature to a SignedTx (or a bare tx), keeping the signatures already there. */
export async function cosign(account: AccountMemory, tx: string, networkId = NETWORK_ID): Promise<string> {
  const isSigned = unpackTx(tx as `tx_${string}`).tag === Tag.SignedTx;
  const unpacked = isSigned ? unpackSignedTx(tx) : undefined;
  const inner = unpacked ? buildTx(unpacked.encodedTx as Parameters<typeof buildTx>[0]) : (tx as `tx_${string}`);
  const existing = unpacked?.signatures ?? [];
  const signed = unpackSignedTx(await account.signTransaction(inner, { networkId }));
  return buildTx({ tag: Tag.SignedTx, signatures: [...existing, ...signed.signatures].map((x) => Buffer.from(x)), encodedTx: inner });
}
