/**
 * The `noise-protocol` library against the Noise_NN_25519_ChaChaPoly_BLAKE2b test vector that the
 * node's own Noise library checks itself against (aeternity/enoise test/test_vectors.txt, the
 * cacophony vectors): with the vector's ephemeral keys and prologue, every handshake and transport
 * ciphertext must come out byte for byte, so our handshake and the node's agree.
 */
import t from 'tap';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import noise from 'noise-protocol';
import dhFactory from 'noise-protocol/dh.js';
import hashFactory from 'noise-protocol/hash.js';
import cipherFactory from 'noise-protocol/cipher.js';
import cipherStateFactory from 'noise-protocol/cipher-state.js';
import symmetricStateFactory from 'noise-protocol/symmetric-state.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// From enoise test/test_vectors.txt, protocol_name "Noise_NN_25519_ChaChaPoly_BLAKE2b".
const vector = {
  prologue: '4a6f686e2047616c74',
  initEphemeral: '893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a',
  respEphemeral: 'bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b',
  messages: [
    ['4c756477696720766f6e204d69736573', 'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573'],
    ['4d757272617920526f746862617264', '95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843d10cf8ef4ab895bed3e4673211f0c9337039d63a450c7b28196b8a0ebade00'],
    ['462e20412e20486179656b', 'e50ec882703a1f34bf4957d8cafd036d34e02930f672f424c676e1'],
    ['4361726c204d656e676572', '35bb2a728d3e8e5f47781d486089e4a37c5c2e4261256f44569a9f'],
    ['4a65616e2d426170746973746520536179', '69ee82006e16b79438a34ad9de37ee44d83c267e355750ecf49f194b5c50403030'],
    ['457567656e2042f6686d20766f6e2042617765726b', 'c568b641b01d2f644f2a890538c359915ca50552e55129c029d3721866c2646a7af3fd1eff'],
  ],
} as const;

/** X25519 public key of a raw private key, through node:crypto's PKCS#8 import. */
function x25519Public(sk: Uint8Array): Uint8Array {
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), sk]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return Uint8Array.from(spki.subarray(spki.length - 32));
}

/** noise-protocol wired as the package does, except that "generating" an ephemeral key yields `sk`. */
function fixedEphemeral(sk: Uint8Array) {
  const dh = dhFactory();
  dh.generateKeypair = (pk, out) => {
    out.set(sk);
    pk.set(x25519Public(sk));
  };
  const cipher = cipherFactory();
  const cipherState = cipherStateFactory({ cipher });
  const hash = hashFactory({ dh });
  const symmetricState = symmetricStateFactory({ hash, cipherState });
  return noise.createHandshake({ dh, hash, cipher, cipherState, symmetricState });
}

t.test('NN_25519_ChaChaPoly_BLAKE2b matches the cacophony vector', async (t) => {
  const I = fixedEphemeral(hex(vector.initEphemeral));
  const R = fixedEphemeral(hex(vector.respEphemeral));
  const init = I.initialize('NN', true, hex(vector.prologue));
  const resp = R.initialize('NN', false, hex(vector.prologue));
  const buf = new Uint8Array(256);
  const [[p1, c1], [p2, c2], ...transport] = vector.messages;

  t.equal(I.writeMessage(init, hex(p1), buf), undefined, 'message 1 does not split');
  t.equal(toHex(buf.subarray(0, I.writeMessage.bytes)), c1, 'message 1: e, then the payload in clear');
  R.readMessage(resp, hex(c1), buf);
  t.equal(toHex(buf.subarray(0, R.readMessage.bytes)), p1);

  const respSplit = R.writeMessage(resp, hex(p2), buf)!;
  t.equal(toHex(buf.subarray(0, R.writeMessage.bytes)), c2, 'message 2: e, ee, encrypted payload');
  const initSplit = I.readMessage(init, hex(c2), buf)!;
  t.equal(toHex(buf.subarray(0, I.readMessage.bytes)), p2);

  // noise-protocol hands out `tx` = k1 to whoever wrote the last handshake message and `rx` = k1 to
  // whoever read it, whatever their role. The Noise spec (and enoise, enoise_hs_state:finalize)
  // has the initiator send with k1. In NN the responder writes last, so for NN both sides must send
  // with `rx` and receive with `tx` — which is what noise-session.ts does and this vector proves.
  t.equal(toHex(initSplit.rx), toHex(respSplit.tx), 'both hold k1, under opposite names');
  const cs = cipherStateFactory({ cipher: cipherFactory() });
  transport.forEach(([p, c], i) => {
    // Transport messages alternate, starting with the initiator, each direction's nonce from 0.
    const [tx, rx] = i % 2 === 0 ? [initSplit.rx, respSplit.tx] : [respSplit.rx, initSplit.tx];
    const out = new Uint8Array(p.length / 2 + 16);
    cs.encryptWithAd(tx, out, new Uint8Array(0), hex(p));
    t.equal(toHex(out), c, `transport message ${i + 3}`);
    const back = new Uint8Array(p.length / 2);
    cs.decryptWithAd(rx, back, new Uint8Array(0), out);
    t.equal(toHex(back), p);
  });
});
