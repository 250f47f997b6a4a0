import type { LogLevel } from '../config/index.js';
import { redact } from '../redact/index.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/** JSON-lines logger. Every line passes through the redactor; bound fields ride on every line. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the correlation id). */
  child(fields: LogFields): Logger;
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where a finished line goes; console.log by default (stdout on Node, the log stream in workerd). */
  write?: (line: string) => void;
  now?: () => Date;
  base?: LogFields;
}

/**
 * @example
 * const log = createLogger({ level: 'info', base: { service: 'myca-edge' } });
 * log.child({ correlation_id }).info('request', { status: 200 });
 */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => new Date());
  const threshold = ORDER[options.level];
  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, message: string, fields?: LogFields) => {
      if (ORDER[level] < threshold) return;
      const line = redact({ time: now().toISOString(), level, msg: message, ...bound, ...fields });
      write(safeStringify(line));
    };
    return {
      debug: (message, fields) => emit('debug', message, fields),
      info: (message, fields) => emit('info', message, fields),
      warn: (message, fields) => emit('warn', message, fields),
      error: (message, fields) => emit('error', message, fields),
      child: (fields) => make({ ...bound, ...fields }),
      enabled: (level) => ORDER[level] >= threshold,
    };
  };
  return make(options.base ?? {});
}

function safeStringify(value: unknown): string {
  try {
    // Without a replacer first: a replacer function is called for every key and value, which
    // triples the cost of a line; only a line holding a BigInt (rare) needs it.
    return JSON.stringify(value);
  } catch {
    try {
      return JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? item.toString() : item));
    } catch {
      return JSON.stringify({ level: 'error', msg: 'unserialisable log line' });
    }
  }
}
