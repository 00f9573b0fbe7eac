/**
 * The node's serialized off-chain updates (aesc_offchain_update:serialize/1), as the `updates` blobs
 * of update, deposit_created and withdraw_created carry them: RLP [tag, vsn, fields…] with accounts
 * as 33-byte ids (type 1, then the key) and amounts as minimal big-endian integers. Only the kinds
 * the FSM makes: transfer (570, v1), deposit (571, v1), withdraw (572, v1) and meta (576, v2).
 * Contract updates (573, 574) are refused: nothing here runs contracts.
 */
import { decode as rlpDecode, encode as rlpEncode } from 'rlp';
import type { AccountId, OffchainUpdate } from '../../fsm/types.js';
import { decode, encode } from '../tx/encoding.js';
import { Encoding } from '@aeternity/aepp-sdk';

const TRANSFER = 570;
const DEPOSIT = 571;
const WITHDRAW = 572;
const META = 576;
const ACCOUNT_ID_TAG = 1;
const KEY_BYTES = 32;

const int = (n: bigint | number): Uint8Array => {
  let hex = BigInt(n).toString(16);
  if (hex === '0') return new Uint8Array(0);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
};
const accountField = (id: AccountId): Uint8Array => Buffer.concat([Buffer.of(ACCOUNT_ID_TAG), decode(id)]);

export function serializeUpdate(u: OffchainUpdate): Uint8Array {
  switch (u.op) {
    case 'OffChainTransfer': return rlpEncode([int(TRANSFER), int(1), accountField(u.from), accountField(u.to), int(u.amount)]);
    case 'OffChainDeposit': return rlpEncode([int(DEPOSIT), int(1), accountField(u.from), int(u.amount)]);
    case 'OffChainWithdrawal': return rlpEncode([int(WITHDRAW), int(1), accountField(u.to), int(u.amount)]);
    case 'OffChainMeta': return rlpEncode([int(META), int(2), Buffer.from(u.data, 'utf8')]);
  }
}

export class UpdateDecodeError extends Error {
  override readonly name = 'UpdateDecodeError';
}

/** A canonical RLP integer: no leading zero byte (the node's decoder refuses one too). */
function readInt(b: unknown, field: string): bigint {
  if (!(b instanceof Uint8Array) || (b.length > 0 && b[0] === 0)) throw new UpdateDecodeError(`${field} is not an integer`);
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function readAccount(b: unknown, field: string): AccountId {
  if (!(b instanceof Uint8Array) || b.length !== KEY_BYTES + 1 || b[0] !== ACCOUNT_ID_TAG) throw new UpdateDecodeError(`${field} is not an account id`);
  return encode(b.subarray(1), Encoding.AccountAddress) as AccountId;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads one update; throws UpdateDecodeError on anything the node would not have serialized. */
export function deserializeUpdate(bytes: Uint8Array): OffchainUpdate {
  let items: unknown;
  try {
    items = rlpDecode(bytes);
  } catch {
    throw new UpdateDecodeError('update is not RLP');
  }
  if (!Array.isArray(items) || items.length < 2) throw new UpdateDecodeError('update is not an RLP list');
  const tag = Number(readInt(items[0], 'tag'));
  const vsn = Number(readInt(items[1], 'vsn'));
  const fields = items.slice(2) as unknown[];
  const shape = (n: number, v: number) => {
    if (vsn !== v || fields.length !== n) throw new UpdateDecodeError(`update ${tag}: version ${vsn} with ${fields.length} fields`);
  };
  switch (tag) {
    case TRANSFER:
      shape(3, 1);
      return { op: 'OffChainTransfer', from: readAccount(fields[0], 'from'), to: readAccount(fields[1], 'to'), amount: readInt(fields[2], 'amount') };
    case DEPOSIT:
      shape(2, 1);
      return { op: 'OffChainDeposit', from: readAccount(fields[0], 'from'), amount: readInt(fields[1], 'amount') };
    case WITHDRAW:
      shape(2, 1);
      return { op: 'OffChainWithdrawal', to: readAccount(fields[0], 'to'), amount: readInt(fields[1], 'amount') };
    case META: {
      shape(1, 2);
      const data = fields[0];
      if (!(data instanceof Uint8Array)) throw new UpdateDecodeError('meta data is not bytes');
      try {
        return { op: 'OffChainMeta', data: utf8.decode(data) };
      } catch {
        throw new UpdateDecodeError('meta data is not utf-8');
      }
    }
    default:
      throw new UpdateDecodeError(`update type ${tag} is not supported`);
  }
}
