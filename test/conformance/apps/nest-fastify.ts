/** The NestJS conformance app (./nest.ts) on NestJS 12 + platform-fastify. */
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { AppFactory } from '../spec.js';
import { nestConformanceApp } from './nest.js';

/** Builds the NestJS conformance app on platform-fastify. */
const createNestFastifyApp: AppFactory = (config) => nestConformanceApp(config, new FastifyAdapter());

export default createNestFastifyApp;
