/** Every lifecycle event is one log line at info, named by its type, with the event's fields. */
import type { Logger } from '../log.js';
import { isLifecycle, type OpsEvents } from './events.js';

export function logLifecycle(events: OpsEvents, log: Logger): () => void {
  return events.on((event) => {
    if (!isLifecycle(event)) return;
    const { type, time: _time, ...fields } = event;
    const level = type.endsWith('_trouble') || type === 'watchtower_slash_failed' ? 'warn' : 'info';
    log.log(level, type, fields);
  });
}
