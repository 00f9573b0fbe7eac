/**
 * The service's own key (the watchtower's). Its address is derived through libsodium when the service
 * starts; the aepp-sdk's AccountMemory, whose pure-JS key derivation costs 15 to 350 ms on these
 * machines, is built only when the key first signs (a slash: rare).
 */
import { AccountMemory, decode, encode, Encoding } from '../sdk.js';
import sodium from 'sodium-native';
import type { AccountId } from '../../fsm/types.js';

type SignOptions = Parameters<AccountMemory['signTransaction']>[1];

export class ServiceKey {
  readonly address: AccountId;
  private account: AccountMemory | null = null;

  /** Throws when the key does not decode to an ed25519 seed. */
  constructor(private readonly secretKey: `sk_${string}`) {
    const seed = Buffer.from(decode(secretKey));
    if (seed.length !== sodium.crypto_sign_SEEDBYTES) throw new Error(`an ed25519 seed is ${sodium.crypto_sign_SEEDBYTES} bytes, not ${seed.length}`);
    const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
    const expanded = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES);
    sodium.crypto_sign_seed_keypair(publicKey, expanded, seed);
    sodium.sodium_memzero(expanded);
    seed.fill(0);
    this.address = encode(publicKey, Encoding.AccountAddress) as AccountId;
  }

  /** A new random key, in the `sk_…` form the aepp-sdk reads (the 32-byte seed). */
  static generate(): `sk_${string}` {
    const seed = Buffer.alloc(sodium.crypto_sign_SEEDBYTES);
    sodium.randombytes_buf(seed);
    const encoded = encode(seed, Encoding.AccountSecretKey);
    seed.fill(0);
    return encoded;
  }

  signTransaction(tx: Parameters<AccountMemory['signTransaction']>[0], options: SignOptions): ReturnType<AccountMemory['signTransaction']> {
    this.account ??= new AccountMemory(this.secretKey);
    return this.account.signTransaction(tx, options);
  }
}
