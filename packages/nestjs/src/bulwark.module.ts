import type { Server } from 'node:http';
import { type Bulwark, type BulwarkConfig, createBulwark } from '@bulwark/core';
import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Global,
  Inject,
  type MiddlewareConsumer,
  Module,
  type ModuleMetadata,
  type NestModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
  type Provider,
  RequestMethod,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule, HttpAdapterHost } from '@nestjs/core';
import { BULWARK } from './bulwark.constants.js';
import { BulwarkExplorer } from './bulwark.explorer.js';
import { BulwarkExceptionFilter } from './bulwark.filter.js';
import { BulwarkMiddleware } from './bulwark.middleware.js';
import { BulwarkRateLimitGuard } from './bulwark.rate-limit.js';

/** What `BulwarkModule.forRoot` takes: a Bulwark config object, or an existing core instance. */
export type BulwarkModuleOptions = BulwarkConfig | Bulwark;

/** Options of `BulwarkModule.forRootAsync`: a factory (may be async), its injected providers and their modules. */
export interface BulwarkModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  // biome-ignore lint/suspicious/noExplicitAny: the factory declares its own parameter types
  useFactory: (...args: any[]) => BulwarkModuleOptions | Promise<BulwarkModuleOptions>;
  // biome-ignore lint/suspicious/noExplicitAny: Nest injection tokens (classes, strings, symbols)
  inject?: any[];
}

function isBulwark(options: BulwarkModuleOptions): options is Bulwark {
  const b = options as Partial<Bulwark>;
  return typeof b.run === 'function' && typeof b.policy === 'function' && 'http' in b;
}

function toBulwark(options: BulwarkModuleOptions): Bulwark {
  return isBulwark(options) ? options : createBulwark(options);
}

/**
 * Global module providing the core `Bulwark` instance (token {@link BULWARK}), the correlation
 * middleware on every route, the problem+json exception filter, and the resilience decorators.
 * @example
 * @Module({ imports: [BulwarkModule.forRoot({ policies: { 'payments-api': { retry: {}, timeout: '2s' } } })] })
 * export class AppModule {}
 */
@Global()
@Module({})
export class BulwarkModule
  implements
    NestModule,
    OnModuleInit,
    OnApplicationBootstrap,
    BeforeApplicationShutdown,
    OnApplicationShutdown
{
  constructor(
    @Inject(BULWARK) private readonly bulwark: Bulwark,
    @Inject(BulwarkExplorer) private readonly explorer: BulwarkExplorer,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** Registers the module with a Bulwark config, or an existing core instance (closed on shutdown either way). */
  static forRoot(options: BulwarkModuleOptions = {}): DynamicModule {
    return BulwarkModule.build({ provide: BULWARK, useFactory: () => toBulwark(options) });
  }

  /** Registers the module with a config computed by a factory with injected dependencies. */
  static forRootAsync(options: BulwarkModuleAsyncOptions): DynamicModule {
    return BulwarkModule.build(
      {
        provide: BULWARK,
        useFactory: async (...deps: unknown[]) => toBulwark(await options.useFactory(...deps)),
        inject: options.inject ?? [],
      },
      options.imports,
    );
  }

  private static build(core: Provider, imports: DynamicModule['imports'] = []): DynamicModule {
    return {
      module: BulwarkModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        core,
        BulwarkExplorer,
        { provide: APP_FILTER, useClass: BulwarkExceptionFilter },
        { provide: APP_GUARD, useClass: BulwarkRateLimitGuard },
      ],
      exports: [BULWARK],
    };
  }

  /** Wraps decorated methods (before Nest registers routes) and mounts the middleware on every route. */
  configure(consumer: MiddlewareConsumer): void {
    this.explorer.explore();
    consumer.apply(BulwarkMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }

  /** Wraps decorated methods in application contexts without HTTP (where `configure` never runs). */
  onModuleInit(): void {
    this.explorer.explore();
  }

  /** Hands the HTTP server to core's lifecycle, which drains it on shutdown (none in an application context). */
  onApplicationBootstrap(): void {
    const server: unknown = this.adapterHost.httpAdapter?.getHttpServer();
    if (typeof (server as Server | undefined)?.closeAllConnections === 'function')
      this.bulwark.lifecycle.attach(server as Server);
  }

  /** Drains before Nest closes the server (`enableShutdownHooks()`): the load-balancer delay only when a signal started it. */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    await this.bulwark.lifecycle.shutdown(signal ? { reason: signal } : { reason: 'app.close()', delay: 0 });
  }

  /** Closes the core instance (timers, breakers, stores), unless the drain above has closed it already. */
  async onApplicationShutdown(): Promise<void> {
    if (this.bulwark.lifecycle.state !== 'stopped') await this.bulwark.close();
  }
}
