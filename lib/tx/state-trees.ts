/**
 * The off-chain state trees as the node hashes them: the channel's accounts in a Merkle-Patricia
 * trie (blake2b-256 of each node's RLP, hex-prefix paths), folded into the aec_trees state hash, and
 * the proof of inclusion (`pi_…`) that the aepp-sdk decodes and checks against that hash.
 */
import { encode, Encoding, EntryTag, packEntry } from '../sdk.js';
import { blake2b256 } from './crypto.js';
import { rlpEncode, uintBytes } from './rlp-write.js';

type RlpItem = Uint8Array | RlpItem[];
type Entry = { path: string; value: Uint8Array };

/** A built trie: its root hash and every node by its hash (hex). */
export interface Trie {
  root: Buffer;
  nodes: Map<string, RlpItem[]>;
}

const EMPTY = new Uint8Array(0);
const ZERO_HASH = Buffer.alloc(32);
const TREES_VERSION = 1;
const ACCOUNT_VERSION = 1;
const POI_VERSION = 1;

/** Integers as the node serialises them: minimal big-endian bytes, with 0 as a single zero byte. */
export function intBytes(n: bigint | number): Buffer {
  return uintBytes(n);
}

/** The trie value of a plain (version 1) account: rlp([tag 10, version 1, nonce, balance]). */
export function accountLeaf(balance: bigint, nonce = 0): Uint8Array {
  return rlpEncode([intBytes(EntryTag.Account), intBytes(ACCOUNT_VERSION), intBytes(nonce), intBytes(balance)]);
}

/** Hex-prefix encoding of a nibble path; flag 0/1 marks an extension, 2/3 a leaf (odd length +1). */
function encodePath(path: string, leaf: boolean): Buffer {
  const flag = (leaf ? 2 : 0) + (path.length % 2);
  return Buffer.from(path.length % 2 ? `${flag}${path}` : `${flag}0${path}`, 'hex');
}

function commonPrefixLength(entries: Entry[]): number {
  const first = entries[0]!.path;
  let n = first.length;
  for (const { path } of entries) {
    let i = 0;
    while (i < n && path[i] === first[i]) i++;
    n = i;
  }
  return n;
}

function nodeHash(node: RlpItem[]): Buffer {
  return blake2b256(rlpEncode(node));
}

/**
 * How a parent refers to a child: its hash, or (aeu_mp_trees) the child's RLP bytes themselves when
 * they are shorter than a hash. Extensions and the root always use the hash.
 */
function childRef(node: RlpItem[], nodes: Map<string, RlpItem[]>): Uint8Array {
  const bytes = rlpEncode(node);
  if (bytes.length < 32) return bytes;
  const h = blake2b256(bytes);
  nodes.set(h.toString('hex'), node);
  return h;
}

/** Builds the trie from keys of equal length (account pubkeys), returning the node; hashed nodes go to `nodes`. */
function build(entries: Entry[], nodes: Map<string, RlpItem[]>): RlpItem[] {
  let node: RlpItem[];
  if (entries.length === 1) {
    node = [encodePath(entries[0]!.path, true), entries[0]!.value];
  } else {
    const prefix = commonPrefixLength(entries);
    if (prefix > 0) {
      const child = build(entries.map((e) => ({ path: e.path.slice(prefix), value: e.value })), nodes);
      const childHash = nodeHash(child);
      nodes.set(childHash.toString('hex'), child);
      node = [encodePath(entries[0]!.path.slice(0, prefix), false), childHash];
    } else {
      node = Array.from({ length: 17 }, () => EMPTY as RlpItem);
      for (let nibble = 0; nibble < 16; nibble++) {
        const digit = nibble.toString(16);
        const group = entries.filter((e) => e.path[0] === digit);
        if (group.length) node[nibble] = childRef(build(group.map((e) => ({ path: e.path.slice(1), value: e.value })), nodes), nodes);
      }
    }
  }
  return node;
}

/** A trie over (32-byte key, value) pairs; keys must be distinct. Null when there are none. */
export function buildTrie(pairs: Array<[Uint8Array, Uint8Array]>): Trie | null {
  if (pairs.length === 0) return null;
  const nodes = new Map<string, RlpItem[]>();
  const rootNode = build(pairs.map(([k, v]) => ({ path: Buffer.from(k).toString('hex'), value: v })), nodes);
  const root = nodeHash(rootNode);
  nodes.set(root.toString('hex'), rootNode);
  return { root, nodes };
}

/**
 * The hashed nodes on the way from the root to `key`: what a proof of inclusion carries for it.
 * An inlined child (shorter than a hash) travels inside its parent, so the walk ends there.
 */
function proofNodes(trie: Trie, key: Uint8Array, into: Map<string, RlpItem[]>): void {
  let at = trie.root.toString('hex');
  let path = Buffer.from(key).toString('hex');
  for (;;) {
    const node = trie.nodes.get(at);
    if (!node) return;
    into.set(at, node);
    if (node.length === 17) {
      const child = node[parseInt(path[0] ?? '0', 16)] as Uint8Array;
      if (child.length !== 32) return;
      at = Buffer.from(child).toString('hex');
      path = path.slice(1);
    } else {
      const encoded = Buffer.from(node[0] as Uint8Array).toString('hex');
      const flag = parseInt(encoded[0]!, 16);
      if (flag >= 2) return; // a leaf ends the walk
      const segment = encoded.slice(flag % 2 ? 1 : 2);
      if (!path.startsWith(segment)) return;
      at = Buffer.from(node[1] as Uint8Array).toString('hex');
      path = path.slice(segment.length);
    }
  }
}

/** The balances of a channel's participants as the node's accounts tree. */
export function accountsTrie(accounts: Array<[Uint8Array, bigint]>): Trie | null {
  return buildTrie(accounts.map(([pubkey, balance]) => [pubkey, accountLeaf(balance)]));
}

/**
 * aec_trees state hash: blake2b-256 over a 64-bit version and the six tree roots in a fixed order
 * (accounts, calls, channels, contracts, ns, oracles), 32 zero bytes standing for an empty tree.
 * A channel without contracts has only accounts.
 */
export function stateHash(accounts: Trie | null): Buffer {
  const version = Buffer.alloc(8);
  version.writeBigUInt64BE(BigInt(TREES_VERSION));
  return blake2b256(Buffer.concat([version, accounts?.root ?? ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH]));
}

/** Proof of inclusion of the given accounts, serialised as the node's trees_poi object (`pi_…`). */
export function proofOfInclusion(accounts: Trie | null, include: Uint8Array[]): `pi_${string}` {
  const serializeProof = (trie: Trie, keys: Uint8Array[]): RlpItem[] => {
    const nodes = new Map<string, RlpItem[]>();
    for (const key of keys) proofNodes(trie, key, nodes);
    // the node lists them in ascending hash order
    const sorted = [...nodes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return [trie.root, sorted.map(([h, node]) => [Buffer.from(h, 'hex'), node])];
  };
  const accountsField: RlpItem[] = accounts && include.length ? [serializeProof(accounts, include)] : [];
  const body = rlpEncode([intBytes(EntryTag.TreesPoi), intBytes(POI_VERSION), accountsField, [], [], [], [], []]);
  return encode(Buffer.from(body), Encoding.Poi);
}

/**
 * The channel's state trees as `channels.get.offchain_state` reports them (`ss_…`): the node's flat
 * StateTrees object, each tree as a key/value list. Encoded by the aepp-sdk, which reads it back.
 */
export function stateTreesEntry(accounts: Array<[Uint8Array, bigint]>): `ss_${string}` {
  const entries = Object.fromEntries(accounts.map(([pubkey, balance]) => [
    encode(Buffer.from(pubkey), Encoding.AccountAddress), { version: ACCOUNT_VERSION, nonce: 0, balance },
  ]));
  const entry = { tag: EntryTag.StateTrees, contracts: {}, calls: {}, channels: {}, ns: {}, oracles: {}, accounts: entries };
  return packEntry(entry as unknown as Parameters<typeof packEntry>[0]) as `ss_${string}`;
}

/** The channel's contract calls tree (`cs_…`): always empty, as this service runs no contracts. */
export function callsTreesEntry(): `cs_${string}` {
  return packEntry({ tag: EntryTag.CallsMtree, payload: {} } as unknown as Parameters<typeof packEntry>[0]) as `cs_${string}`;
}
