/**
 * The aepp-sdk, as every module of this project (and its tests) takes it: the package's CommonJS
 * build, one bundled file, loaded once. Imported as an ES module, the same package is about 300 files,
 * each resolved and loaded on its own: measured here, 0.5 to 0.7 s of CPU against 0.3 s for the bundle
 * in a plain node (a quarter of a service's start-up), and 1.5 to 1.8 s against 0.8 to 1 s under the
 * loader hooks every test file runs with. Both are the package's published entry points (`import` and
 * `require`), built from the same source.
 *
 * Everything the project uses is re-exported here, values with their own types, so a module imports
 * from this file and never from '@aeternity/aepp-sdk' directly (the import direction test keeps it so):
 * two copies of the SDK in one process would cost both loads, and their classes would not be each
 * other's for `instanceof`. Type-only imports from the package are fine anywhere (they leave no code).
 */
import { createRequire } from 'node:module';
import type * as Sdk from '@aeternity/aepp-sdk';

const sdk = createRequire(import.meta.url)('@aeternity/aepp-sdk') as typeof Sdk;

export const {
  AccountMemory, AeSdk, Node, Channel,
  Tag, Encoding, EntryTag,
  buildTx, buildTxHash, unpackTx, packEntry, unpackEntry, decode, encode, hash, verifySignature,
  ChannelError, ChannelCallError, ChannelConnectionError, ChannelIncomingMessageError, IllegalArgumentError,
  InsufficientBalanceError, UnexpectedChannelMessageError, UnknownChannelStateError,
} = sdk;

// the classes and enums above as types too (a const and a type may share a name)
export type AccountMemory = Sdk.AccountMemory;
export type AeSdk = Sdk.AeSdk;
export type Node = Sdk.Node;
export type Channel = Sdk.Channel;
export type Tag = Sdk.Tag;
export type Encoding = Sdk.Encoding;
export type EntryTag = Sdk.EntryTag;
export type ChannelError = Sdk.ChannelError;
export type ChannelCallError = Sdk.ChannelCallError;
export type ChannelConnectionError = Sdk.ChannelConnectionError;
export type ChannelIncomingMessageError = Sdk.ChannelIncomingMessageError;
export type IllegalArgumentError = Sdk.IllegalArgumentError;
export type InsufficientBalanceError = Sdk.InsufficientBalanceError;
export type UnexpectedChannelMessageError = Sdk.UnexpectedChannelMessageError;
export type UnknownChannelStateError = Sdk.UnknownChannelStateError;
export type { Encoded } from '@aeternity/aepp-sdk';
