// NestJS 12 on platform-express, bare or with BulwarkModule (middleware on every route and the
// problem+json exception filter). Plain JS: Nest's decorators are applied as functions, so no
// compile step can drop the metadata.
import 'reflect-metadata';
import { BulwarkModule, UsePolicy } from '@bulwark/nestjs';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BODY, BULWARK_CONFIG, PATH, PROTECTED_PATH, PROTECTED_POLICY } from '../config.mjs';

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

/** The protected route: under @UsePolicy in the Bulwark variant (Nest has no route rate limit of its own yet). */
function ordersController(variant) {
  class OrdersController {
    order() {
      return BODY;
    }
  }
  Controller()(OrdersController);
  const decorators = [Get(PROTECTED_PATH.slice(1).replace(/\/\d+$/, '/:id'))];
  if (variant === 'bulwark') decorators.push(UsePolicy(PROTECTED_POLICY));
  Reflect.decorate(
    decorators,
    OrdersController.prototype,
    'order',
    Object.getOwnPropertyDescriptor(OrdersController.prototype, 'order'),
  );
  return OrdersController;
}

/** Builds the Nest app (not yet listening); `close` shuts it down, closing Bulwark's core. */
export async function create(variant) {
  class AppModule {}
  Module({
    imports: variant === 'bulwark' ? [BulwarkModule.forRoot(BULWARK_CONFIG)] : [],
    controllers: [HelloController, ordersController(variant)],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  return { nest: app, close: () => app.close() };
}
