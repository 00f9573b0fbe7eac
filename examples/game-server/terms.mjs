/**
 * What the game server and its players agree on before they meet: every channel is opened on these
 * terms (the responder checks the initiator's proposal against its own), and a round costs PRICE.
 */
export const PORT = 4114;
export const TERMS = {
  // what a player locks, and what the house locks against it
  initiatorAmount: 10n ** 19n,
  responderAmount: 10n ** 19n,
  pushAmount: 0n,
  channelReserve: 10n ** 17n,
  lockPeriod: 10,
  minimumDepth: 0,
  minimumDepthStrategy: 'plain',
};
/** a round costs this; a win pays twice it back */
export const PRICE = 10n ** 17n;
export const PRIZE = 2n * PRICE;
