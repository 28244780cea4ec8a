/**
 * A real NestJS app for the drain test, in plain JavaScript (decorators applied by hand): Nest's
 * own `enableShutdownHooks()` handles SIGTERM and BulwarkModule drains in beforeApplicationShutdown.
 * `useProcessExit` makes Nest end with exit code 0 instead of re-raising the signal.
 */
import 'reflect-metadata';
import { BULWARK, BulwarkModule } from '@bulwark/nestjs';
import { Controller, Get, Module, Query } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { config, report, slow } from './shared.mjs';

class SlowController {
  slow(id) {
    return slow(id);
  }
}
Controller()(SlowController);
Query('id')(SlowController.prototype, 'slow', 0);
Get('slow')(
  SlowController.prototype,
  'slow',
  Object.getOwnPropertyDescriptor(SlowController.prototype, 'slow'),
);

class AppModule {}
Module({ imports: [BulwarkModule.forRoot(config)], controllers: [SlowController] })(AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
app.enableShutdownHooks(['SIGTERM'], { useProcessExit: true });
report.events(app.get(BULWARK));
await app.listen(0, '127.0.0.1');
report.listening(app.getHttpServer());
