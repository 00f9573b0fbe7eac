/**
 * Once a channel exists, the chain watcher tells its FSM what happens to it on chain: another round
 * posted, a solo close (a dispute, also an ops event), the channel gone.
 */
import type { ChannelEvent } from '../../fsm/channel-machine.js';
import type { ChannelId, Role } from '../../fsm/types.js';
import type { ChannelWatcher } from '../chain/channel-watcher.js';
import type { OpsEvents } from '../ops/events.js';

/** Follows a channel on chain for one participant's FSM; returns how to stop. */
export function followChannel(
  channels: ChannelWatcher, channelId: ChannelId, role: Role, send: (event: ChannelEvent) => void, events?: OpsEvents,
): () => void {
  return channels.follow(channelId, (change) => {
    switch (change.kind) {
      case 'changed': send({ type: 'CHAIN.CHANNEL_CHANGED', round: change.channel!.round, tx: change.tx }); break;
      case 'closing':
        events?.emit({ type: 'dispute_seen', channel_id: channelId, role, round: change.channel!.round });
        send({ type: 'CHAIN.CHANNEL_CLOSING', round: change.channel!.round, tx: change.tx });
        break;
      case 'closed': send({ type: 'CHAIN.CHANNEL_CLOSED', tx: change.tx }); break;
    }
  });
}
