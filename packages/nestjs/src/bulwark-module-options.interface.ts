import type { Bulwark, BulwarkConfig } from '@bulwark/core';
import type { ModuleMetadata } from '@nestjs/common';

/** What `BulwarkModule.forRoot` takes: a Bulwark config object, or an existing core instance. */
export type BulwarkModuleOptions = BulwarkConfig | Bulwark;

/** Options of `BulwarkModule.forRootAsync`: a factory, its injected dependencies and the modules that provide them. */
export interface BulwarkModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Returns the config (or a core instance); may be async. */
  // biome-ignore lint/suspicious/noExplicitAny: the factory declares its own parameter types
  useFactory: (...args: any[]) => BulwarkModuleOptions | Promise<BulwarkModuleOptions>;
  /** Providers whose instances are passed to `useFactory`, in order. */
  // biome-ignore lint/suspicious/noExplicitAny: Nest injection tokens (classes, strings, symbols)
  inject?: any[];
}
