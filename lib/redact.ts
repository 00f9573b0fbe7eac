/**
 * Secrets stay secret: what a log line or an error message may show of a setting that carries one.
 */

/** A URL without its password (`redis://user:pw@host` → `redis://***@host`). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
