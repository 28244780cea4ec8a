// The child of records.test.ts, run in an empty working directory: createBulwark() creates no
// file until `bulwark.records` is used, then `.bulwark/bulwark.db`, closed by close().
import { existsSync } from 'node:fs';
import { createBulwark } from '../../packages/core/dist/index.js';

const bulwark = createBulwark({}, { env: false, file: false });
const before = existsSync('.bulwark');
const store = bulwark.records;
const afterAccess = existsSync('.bulwark');
const records = store.records('a');
await records.put('x', { n: 1 });
await bulwark.close();
let closed = false;
await records.get('x').catch(() => (closed = true));
process.emitWarning('another experimental thing', 'ExperimentalWarning');
console.log(
  JSON.stringify({
    before,
    afterAccess,
    durable: store.durable,
    file: existsSync('.bulwark/bulwark.db'),
    closed,
  }),
);
