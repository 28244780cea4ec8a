import { logContext } from '@bulwark/core';
import { ConsoleLogger, type LogLevel } from '@nestjs/common';

/**
 * Nest's ConsoleLogger plus the request's `correlationId`, `traceId` and `spanId` on every line
 * logged inside a request (as params: appended in text mode, a `params` member in JSON mode).
 * @example
 * const app = await NestFactory.create(AppModule, { logger: new BulwarkLogger() });
 */
export class BulwarkLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    const ids = logContext();
    const merged = ids.correlationId === undefined ? params : { ...ids, ...params };
    super.printMessages(messages, context, logLevel, writeStreamType, errorStack, merged);
  }
}
