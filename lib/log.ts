/**
 * winston, one JSON line per event. Channel lines carry `channel_id` (and `role`) through child loggers.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level: string): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    // every level on stdout: one stream of JSON lines for the log collector
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}

/** A logger that prints nothing, for tests and embedders that bring their own. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
