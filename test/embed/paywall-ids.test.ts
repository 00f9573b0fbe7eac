/**
 * Payment ids and what a co-signed round pays: an id is `pi_` and a nonce with its HMAC under the
 * merchant's key, with one spelling; a round pays an id when its transfers give the merchant
 * something and its meta names exactly one id the merchant issued.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { AccountMemory } from '../../lib/sdk.js';
import type { OffchainUpdate } from '../../fsm/types.js';
import { looksLikePaymentId, paymentIds } from '../../lib/embed/paywall-ids.js';
import { paymentOf } from '../../lib/embed/paywall-merchant.js';

const ids = paymentIds(randomBytes(32).toString('hex'));

t.test('ids are fresh, verified under their key only, and spelt one way', async (t) => {
  const issued = Array.from({ length: 100 }, () => ids.issue());
  t.equal(new Set(issued).size, 100, 'fresh every time');
  for (const id of issued) t.match(id, /^pi_[A-Za-z0-9_-]{43}$/);
  t.ok(issued.every((id) => ids.verify(id)));
  t.notOk(paymentIds(randomBytes(32).toString('hex')).verify(issued[0]!), "another merchant's key does not know it");
  const bytes = Buffer.from(issued[0]!.slice(3), 'base64url');
  for (let i = 0; i < bytes.length; i++) {
    const forged = Buffer.from(bytes);
    forged[i]! ^= 0x80;
    t.notOk(ids.verify(`pi_${forged.toString('base64url')}`), `byte ${i} changed`);
  }
  // 32 bytes leave the last of 43 characters two spare bits, always zero in the id as issued
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const respelt = issued[0]!.slice(0, -1) + alphabet[alphabet.indexOf(issued[0]!.at(-1)!) | 1]!;
  t.same(Buffer.from(respelt.slice(3), 'base64url'), bytes);
  t.notOk(ids.verify(respelt), 'the same bytes spelt otherwise');
  for (const bad of ['', 'pi_', 'pi_short', `pi_${'A'.repeat(42)}`, `pi_${'A'.repeat(44)}`, `pi_${'+'.repeat(43)}`, `xx_${issued[0]!.slice(3)}`]) t.notOk(ids.verify(bad), bad);
  t.throws(() => paymentIds('abcd'), /at least 32 bytes/);
  t.ok(looksLikePaymentId(issued[0]!));
  t.notOk(looksLikePaymentId('heads'));
});

t.test('what a co-signed round pays', async (t) => {
  const merchant = AccountMemory.generate().address;
  const payer = AccountMemory.generate().address;
  const id = ids.issue();
  const transfer = (amount: bigint, from = payer, to = merchant): OffchainUpdate => ({ op: 'OffChainTransfer', from, to, amount });
  const meta = (data: string): OffchainUpdate => ({ op: 'OffChainMeta', data });
  const pays = (...updates: OffchainUpdate[]) => paymentOf({ updates }, merchant, ids);
  t.same(pays(transfer(2n ** 70n), meta(id)), { id, amount: 2n ** 70n }, 'a transfer to the merchant with its id');
  t.same(pays(transfer(5n), transfer(7n), meta('a note'), meta(id)), { id, amount: 12n }, 'transfers of one round add up; other meta is ignored');
  t.same(pays(transfer(10n), transfer(3n, merchant, payer), meta(id)), { id, amount: 7n }, 'the net amount to the merchant');
  t.equal(pays(transfer(10n)), null, 'no id: a gift');
  t.equal(pays(transfer(10n, payer, payer), meta(id)), null, 'a transfer to someone else');
  t.equal(pays(transfer(3n), transfer(3n, merchant, payer), meta(id)), null, 'nothing net');
  t.equal(pays(transfer(10n), meta(id), meta(ids.issue())), null, 'two ids');
  t.equal(pays(transfer(10n), meta(paymentIds(randomBytes(32).toString('hex')).issue())), null, 'an id the merchant did not issue');
  t.equal(pays({ op: 'OffChainDeposit', from: payer, amount: 10n }, meta(id)), null, 'a deposit pays nothing');
});
