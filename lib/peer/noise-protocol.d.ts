// The parts of the `noise-protocol` package (CommonJS, untyped) that noise-session.ts uses.
declare module 'noise-protocol' {
  export interface HandshakeState { readonly __handshake: unique symbol }
  export interface Split { tx: Uint8Array; rx: Uint8Array }
  export interface KeyPair { publicKey: Uint8Array; secretKey: Uint8Array }
  interface Noise {
    initialize(pattern: string, initiator: boolean, prologue: Uint8Array, s?: KeyPair | null, e?: KeyPair | null,
      rs?: Uint8Array | null, re?: Uint8Array | null): HandshakeState;
    writeMessage: ((state: HandshakeState, payload: Uint8Array, out: Uint8Array) => Split | undefined) & { bytes: number };
    readMessage: ((state: HandshakeState, message: Uint8Array, payload: Uint8Array) => Split | undefined) & { bytes: number };
    destroy(state: HandshakeState): void;
    /** A whole new instance (its own writeMessage.bytes) built on the given primitives. */
    createHandshake(algs: Record<string, unknown>): Noise;
    PKLEN: number;
    SKLEN: number;
  }
  const noise: Noise;
  export default noise;
}

declare module 'noise-protocol/cipher.js' {
  const cipher: () => unknown;
  export default cipher;
}

declare module 'noise-protocol/cipher-state.js' {
  type Op = ((state: Uint8Array, out: Uint8Array, ad: Uint8Array, input: Uint8Array) => void) & { bytesWritten: number };
  const cipherState: (algs: { cipher: unknown }) => { MACLEN: number; encryptWithAd: Op; decryptWithAd: Op };
  export default cipherState;
}

// Used by the tests only, to run the library against fixed ephemeral keys (Noise test vectors).
declare module 'noise-protocol/dh.js' {
  const dh: () => { generateKeypair(pk: Uint8Array, sk: Uint8Array): void; [k: string]: unknown };
  export default dh;
}
declare module 'noise-protocol/hash.js' {
  const hash: (algs: { dh: unknown }) => unknown;
  export default hash;
}
declare module 'noise-protocol/symmetric-state.js' {
  const symmetricState: (algs: { hash: unknown; cipherState: unknown }) => unknown;
  export default symmetricState;
}
