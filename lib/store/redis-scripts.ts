/**
 * Lua shared by the Redis-backed stores: each defines it under a command name of its own.
 */

/** Deletes KEYS[1] only if it still holds ARGV[1] (a release by its holder, never over a newer one); returns 1. */
export const DELETE_IF_HOLDS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;
