import { inspect } from 'node:util';
import { logContext } from '@bulwark/core';
import { ConsoleLogger } from '@nestjs/common';

/**
 * Nest's ConsoleLogger plus the request's `correlationId`, `traceId` and `spanId` on every line
 * logged inside a request (appended in text mode; a `params` member in JSON mode, or top-level
 * fields with Nest 12's `flattenParams`). Overrides only hooks NestJS 11 and 12 both have.
 * @example
 * const app = await NestFactory.create(AppModule, { logger: new BulwarkLogger() });
 */
export class BulwarkLogger extends ConsoleLogger {
  protected override formatMessage(...args: Parameters<ConsoleLogger['formatMessage']>): string {
    const ids = logContext();
    if (ids.correlationId !== undefined) {
      // The last fixed argument, the timestamp difference, ends the line in both majors.
      const fields = inspect(ids, {
        colors: this.options.colors ?? false,
        breakLength: Number.POSITIVE_INFINITY,
      });
      args[5] = ` ${fields}${args[5]}`;
    }
    return super.formatMessage(...args);
  }

  protected override getJsonLogObject(
    ...args: Parameters<ConsoleLogger['getJsonLogObject']>
  ): ReturnType<ConsoleLogger['getJsonLogObject']> {
    const line = super.getJsonLogObject(...args);
    const ids = logContext();
    if (ids.correlationId === undefined) return line;
    if ((this.options as { flattenParams?: boolean }).flattenParams) return { ...ids, ...line };
    const params = (line as { params?: object }).params;
    return { ...line, params: { ...ids, ...params } };
  }
}
