/**
 * The node's serialized off-chain updates (aesc_offchain_update:serialize/1), as the `updates` blobs
 * of update, deposit_created and withdraw_created carry them: RLP [tag, vsn, fields…] with accounts
 * as 33-byte ids (type 1, then the key) and amounts as minimal big-endian integers. Only the kinds
 * the FSM makes: transfer (570, v1), deposit (571, v1), withdraw (572, v1) and meta (576, v2).
 * Contract updates (573, 574) are refused: nothing here runs contracts.
 */
import { encode as rlpEncode } from 'rlp';
import { Encoding } from '../sdk.js';
import type { AccountId, OffchainUpdate } from '../../fsm/types.js';
import { decode, encode } from '../tx/encoding.js';
import { Memo } from '../tx/memo.js';
import { rlpItem, rlpList, rlpUint, type RlpItem } from './rlp-view.js';

const TRANSFER = 570;
const DEPOSIT = 571;
const WITHDRAW = 572;
const META = 576;
const ACCOUNT_ID_TAG = 1;
const KEY_BYTES = 32;

/** aeserialization's int: binary:encode_unsigned, so 0 is one zero byte. */
const int = (n: bigint | number): Uint8Array => {
  let hex = BigInt(n).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
};
const TAGS = new Map([TRANSFER, DEPOSIT, WITHDRAW, META, 1, 2].map((n) => [n, int(n)]));
const small = (n: number): Uint8Array => TAGS.get(n) ?? int(n);
const accountField = (id: AccountId): Uint8Array => Buffer.concat([Buffer.of(ACCOUNT_ID_TAG), decode(id)]);

export function serializeUpdate(u: OffchainUpdate): Uint8Array {
  switch (u.op) {
    case 'OffChainTransfer': return rlpEncode([small(TRANSFER), small(1), accountField(u.from), accountField(u.to), int(u.amount)]);
    case 'OffChainDeposit': return rlpEncode([small(DEPOSIT), small(1), accountField(u.from), int(u.amount)]);
    case 'OffChainWithdrawal': return rlpEncode([small(WITHDRAW), small(1), accountField(u.to), int(u.amount)]);
    case 'OffChainMeta': return rlpEncode([small(META), small(2), Buffer.from(u.data, 'utf8')]);
  }
}

export class UpdateDecodeError extends Error {
  override readonly name = 'UpdateDecodeError';
}

/** An integer as aeserialization decodes one: no leading zero but in 0 itself. */
function readInt(item: RlpItem | undefined, field: string): bigint {
  const b = item && !item.list ? item.payload : null;
  if (!b || b.length === 0 || (b.length > 1 && b[0] === 0)) throw new UpdateDecodeError(`${field} is not an integer`);
  return b.length <= 6 ? BigInt(rlpUint(item)!) : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

/** the two participants' ids come in every update: their base58 strings are worked out once */
const accounts = new Memo<AccountId>(10_000);

function readAccount(item: RlpItem | undefined, field: string): AccountId {
  const b = item && !item.list ? item.payload : null;
  if (!b || b.length !== KEY_BYTES + 1 || b[0] !== ACCOUNT_ID_TAG) throw new UpdateDecodeError(`${field} is not an account id`);
  const key = b.subarray(1);
  return accounts.get(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex'), () => encode(key, Encoding.AccountAddress) as AccountId);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads one update; throws UpdateDecodeError on anything the node would not have serialized. */
export function deserializeUpdate(bytes: Uint8Array): OffchainUpdate {
  const items = rlpList(rlpItem(bytes));
  if (!items || items.length < 2) throw new UpdateDecodeError('update is not an RLP list');
  const tag = rlpUint(items[0]);
  const vsn = rlpUint(items[1]);
  const fields = items.slice(2);
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
      const data = fields[0]!;
      if (data.list) throw new UpdateDecodeError('meta data is not bytes');
      try {
        return { op: 'OffChainMeta', data: utf8.decode(data.payload) };
      } catch {
        throw new UpdateDecodeError('meta data is not utf-8');
      }
    }
    default:
      throw new UpdateDecodeError(`update type ${tag} is not supported`);
  }
}
