'use strict';
// node scripts/train-registry.js: a minimal registry (OCI distribution, plain HTTP, anonymous)
// on 127.0.0.1 serving one image, train:latest (two small gzip layers), for scripts/package.sh:
// the single binary pulls it once to record which of its functions a pull runs (pull.cache,
// see scripts/sea-main.js). Prints the port on stdout; serves until killed.
const crypto = require('node:crypto');
const http = require('node:http');
const zlib = require('node:zlib');

function tarEntry(name, data, type = '0', mode = 0o644) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write(mode.toString(8).padStart(7, '0') + '\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14757060000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

const tar = (entries) => Buffer.concat([...entries, Buffer.alloc(1024)]);
const sha = (b) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
const blobs = new Map();
const put = (b) => (blobs.set(sha(b), b), sha(b));

const layers = [
  tar([tarEntry('etc/', Buffer.alloc(0), '5', 0o755), tarEntry('etc/os-release', Buffer.from('NAME=train\n'))]),
  tar([tarEntry('opt/', Buffer.alloc(0), '5', 0o755), tarEntry('opt/app.bin', crypto.randomBytes(200_000), '0', 0o755)]),
];
const gz = layers.map((l) => zlib.gzipSync(l, { level: 1 }));
const config = Buffer.from(
  JSON.stringify({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Cmd: ['/opt/app.bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    history: layers.map(() => ({ created_by: 'train' })),
  }),
);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: gz.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(b), size: b.length })),
  }),
);

const server = http.createServer((req, res) => {
  const send = (code, body, type) => {
    res.writeHead(code, { 'content-type': type, 'content-length': body.length, 'docker-distribution-api-version': 'registry/2.0' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const url = req.url || '';
  if (url === '/v2/' || url === '/v2') return send(200, Buffer.from('{}'), 'application/json');
  if (/^\/v2\/train\/manifests\/(latest|sha256:[a-f0-9]{64})$/.test(url)) {
    res.setHeader('docker-content-digest', sha(manifest));
    return send(200, manifest, 'application/vnd.oci.image.manifest.v1+json');
  }
  const m = /^\/v2\/train\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
  if (m && blobs.has(m[1])) return send(200, blobs.get(m[1]), 'application/octet-stream');
  send(404, Buffer.from(JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'not here' }] })), 'application/json');
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
