/**
 * A tx's fee at a gas price, as the node computes it (aesc_fsm `create_with_minimum_fee`): the gas
 * price times the tx's fee gas, a base for its type plus 20 per byte of the tx. The fee is part of
 * the tx, so a bigger fee can make the tx longer: it is recomputed until it no longer changes.
 */
import { decode } from '../sdk.js';
import type { EncodedTx } from '../../fsm/types.js';

/** The node's minimum gas price: a fee computed at less would never be mined. */
export const MIN_GAS_PRICE = 1_000_000_000n;
const GAS_PER_BYTE = 20n;
/** the base gas of every channel tx but force progress (which runs a contract) */
export const CHANNEL_TX_BASE_GAS = 15_000n;

/** The least fee the node takes for a tx as it is: its fee gas at the minimum gas price (aetx:min_fee). */
export function minimumFee(tx: EncodedTx, baseGas = CHANNEL_TX_BASE_GAS): bigint {
  return MIN_GAS_PRICE * (baseGas + GAS_PER_BYTE * BigInt(decode(tx).length));
}

/** `build(undefined)` builds the tx at the minimum fee; `build(fee)` with that fee. */
export function feeAtGasPrice(build: (fee: bigint | undefined) => EncodedTx, gasPrice: bigint, baseGas = CHANNEL_TX_BASE_GAS): bigint {
  let fee: bigint | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const next = gasPrice * (baseGas + GAS_PER_BYTE * BigInt(decode(build(fee)).length));
    if (next === fee) break;
    fee = next;
  }
  return fee!;
}
