// NestJS 12 on platform-express, bare or with BulwarkModule (middleware on every route and the
// problem+json exception filter). Plain JS: Nest's decorators are applied as functions, so no
// compile step can drop the metadata.
import 'reflect-metadata';
import { BulwarkModule } from '@bulwark/nestjs';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BODY, BULWARK_CONFIG, PATH } from '../config.mjs';

class HelloController {
  hello() {
    return BODY;
  }
}
Controller()(HelloController);
Reflect.decorate(
  [Get(PATH.slice(1))],
  HelloController.prototype,
  'hello',
  Object.getOwnPropertyDescriptor(HelloController.prototype, 'hello'),
);

/** Builds the Nest app (not yet listening); `close` shuts it down, closing Bulwark's core. */
export async function create(variant) {
  class AppModule {}
  Module({
    imports: variant === 'bulwark' ? [BulwarkModule.forRoot(BULWARK_CONFIG)] : [],
    controllers: [HelloController],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  return { nest: app, close: () => app.close() };
}
