/** lockd's winston logger: text lines for people, JSON lines for log shippers. */
import winston from 'winston';
import type { LogFormat, LogLevel } from '../options';

/** Builds the logger; everything goes to stderr so stdout carries only the readiness line. */
export function createLogger(level: LogLevel, format: LogFormat): winston.Logger {
  const lineFormat =
    format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level: lvl, message, ...meta }) => {
            const fields = Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : '';
            return `${timestamp} ${lvl} ${message}${fields}`;
          }),
        );
  return winston.createLogger({
    level,
    format: lineFormat,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}
