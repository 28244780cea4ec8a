/** The Express conformance app (./express.ts) on Express 4.22, installed as the `express4` npm alias. */
import express4 from 'express4';
import { expressApp } from './express.js';

/** Builds the Express 4 conformance app. */
export default expressApp(express4);
