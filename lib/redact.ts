/**
 * Secrets stay secret: what a log line or an error message may show of a setting that carries one.
 */

/** A URL without its password (`redis://user:pw@host` → `redis://***@host`). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * A frame fit for a debug log line: the `fsm_id` (and `existing_fsm_id`) it may carry, the secret that
 * lets anyone reestablish the channel, hidden. Only runs when debug lines are written.
 */
export function redactFrame(text: string): string {
  return text.includes('fsm_id') ? text.replace(/("(?:existing_)?fsm_id"\s*:\s*)"[^"]*"/g, '$1"<hidden>"') : text;
}
