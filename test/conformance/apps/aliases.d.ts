// The npm aliases of the older framework majors the conformance suite also runs on. Neither ships
// types; their public API is the one the current major's types describe, as far as the apps use it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
