'use strict';
// bench/logs-gen.js [--k8s] FILE [MiB]: writes a container log of MiB (default 1024) directly,
// for bench/logs.sh and by hand:
//   - default: ctr's format (Docker's json-file lines), as LOG.2, LOG.1 and LOG (a quarter, a
//     quarter, a half), as the monitor's rotation leaves them;
//   - --k8s: Podman's k8s-file format (`TIME STREAM F TEXT`), all in FILE.
// Lines of 100 characters; the stamps advance by 1 s per MiB block from 2024-03-01T10:00:00Z;
// the last block ends with 12 numbered lines (last-0 .. last-11), every third on stderr.
const fs = require('node:fs');
const args = process.argv.slice(2);
const k8s = args[0] === '--k8s';
if (k8s) args.shift();
const [file, size] = args;
const mib = Number(size || 1024);
if (!file || !(mib >= 4)) {
  process.stderr.write('usage: node bench/logs-gen.js [--k8s] LOGFILE [MiB >= 4]\n');
  process.exit(2);
}
const T0 = Date.parse('2024-03-01T10:00:00Z');
const stamp = (ms) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, k8s ? '.$1000000+00:00' : '.$1000000Z');
const entry = (text, stream, time) =>
  k8s ? `${time} ${stream} F ${text.replace(/\n$/, '')}\n` : JSON.stringify({ log: text, stream, time }) + '\n';
const line = entry('x'.repeat(99) + '\n', 'stdout', stamp(T0));
const per = Math.floor((1 << 20) / line.length);
const block = Buffer.from(line.repeat(per));
const at = k8s ? 0 : line.indexOf('"time":"') + 8;
const q = Math.floor(mib / 4);
const parts = k8s ? [[file, 0, mib]] : [[`${file}.2`, 0, q], [`${file}.1`, q, 2 * q], [file, 2 * q, mib]];
for (const [f, from, to] of parts) {
  const fd = fs.openSync(f, 'w');
  for (let k = from; k < to; k++) {
    const t = Buffer.from(stamp(T0 + k * 1000));
    for (let i = 0; i < per; i++) t.copy(block, i * line.length + at);
    fs.writeSync(fd, block);
    if (k === mib - 1)
      for (let i = 0; i < 12; i++) fs.writeSync(fd, entry(`last-${i}\n`, i % 3 === 2 ? 'stderr' : 'stdout', stamp(T0 + k * 1000 + 500 + i)));
  }
  fs.closeSync(fd);
}
