/** The Koa conformance app (./koa.ts) on Koa 2.16, installed as the `koa2` npm alias. */
import koa2 from 'koa2';
import { koaApp } from './koa.js';

/** Builds the Koa 2 conformance app. */
export default koaApp(koa2);
