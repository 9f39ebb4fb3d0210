'use strict';
// What ctr uses of undici (Agent, ProxyAgent, request through an explicit dispatcher), bundled
// by scripts/build.mjs in place of undici's index: the index also loads fetch, WebSocket,
// cookies, caches and mocks, which doubled undici's load time on every registry command.
const Dispatcher = require('undici/lib/dispatcher/dispatcher');
const { InvalidArgumentError } = require('undici/lib/core/errors');

// as undici's index does: request, stream, pipeline, upgrade and connect on every dispatcher
// (ProxyAgent opens its tunnels with connect)
Object.assign(Dispatcher.prototype, require('undici/lib/api'));

/** undici's request(url, opts) for callers that always pass opts.dispatcher. */
function request(url, opts) {
  if (!opts || !opts.dispatcher) throw new InvalidArgumentError('ctr: request() needs opts.dispatcher');
  const u = url instanceof URL ? url : new URL(String(url));
  return opts.dispatcher.request({ ...opts, origin: u.origin, path: u.search ? `${u.pathname}${u.search}` : u.pathname, method: opts.method || (opts.body ? 'PUT' : 'GET') });
}

module.exports = {
  request,
  Agent: require('undici/lib/dispatcher/agent'),
  ProxyAgent: require('undici/lib/dispatcher/proxy-agent'),
};
