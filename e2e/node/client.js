// A proxyless gRPC client on the second stack, @grpc/grpc-js-xds: it dials an xDS target
// with the bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG, waits for the first call to succeed,
// then calls grpc.testing.TestService/UnaryCall --count times, one every 1000/--rate ms,
// and prints the same JSON lines as e2e/internal/xdsclient:
//   {"event":"ready",...} {"event":"rpc","seq":1,"start":<ns>,"end":<ns>,"backend":"...","code":"OK"} {"event":"done",...}
// Usage: node client.js --target xds:///resilient-api [--count 20] [--rate 20] [--deadline-ms 2000]
'use strict';
const grpc = require('@grpc/grpc-js');
require('@grpc/grpc-js-xds').register();

function flags(argv) {
  const f = { target: '', count: 20, rate: 20, 'deadline-ms': 2000, 'ready-timeout-ms': 30000 };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in f)) throw new Error(`unknown argument ${argv[i]}; flags: ${Object.keys(f).join(', ')}`);
    const v = m[2] !== undefined ? m[2] : argv[++i];
    f[m[1]] = typeof f[m[1]] === 'number' ? Number(v) : v;
  }
  if (!f.target) throw new Error('--target is required (e.g. xds:///resilient-api)');
  if (!(f.count > 0) || !(f.rate > 0)) throw new Error('--count and --rate must be more than 0');
  return f;
}

// SimpleResponse.server_id is field 4 (a string). Only that field is read; the rest of
// the message is skipped by wire type. The request is empty, so it encodes as no bytes.
function serverId(buf) {
  let i = 0;
  const varint = () => {
    let v = 0, shift = 0, b;
    do { b = buf[i++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    return v;
  };
  let id = '';
  while (i < buf.length) {
    const key = varint(), field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const n = varint();
      if (field === 4) id = buf.toString('utf8', i, i + n);
      i += n;
    } else throw new Error(`SimpleResponse: unsupported wire type ${wire}`);
  }
  return id;
}

const TestService = grpc.makeGenericClientConstructor({
  UnaryCall: {
    path: '/grpc.testing.TestService/UnaryCall',
    requestStream: false,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: () => ({}),
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: serverId,
  },
}, 'TestService');

const nowNs = () => `${Date.now()}000000`; // wall clock, as the Go tests read it
const codeName = (code) => Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);

function call(client, deadlineMs, waitForReady) {
  return new Promise((resolve) => {
    const md = new grpc.Metadata({ waitForReady });
    client.UnaryCall({}, md, { deadline: Date.now() + deadlineMs }, (err, id) => resolve({ err, id }));
  });
}

async function main() {
  const f = flags(process.argv.slice(2));
  if (!process.env.GRPC_XDS_BOOTSTRAP_CONFIG && !process.env.GRPC_XDS_BOOTSTRAP) {
    throw new Error('no xDS bootstrap: set GRPC_XDS_BOOTSTRAP_CONFIG (JSON) or GRPC_XDS_BOOTSTRAP (a file)');
  }
  const client = new TestService(f.target, grpc.credentials.createInsecure());
  const first = await call(client, f['ready-timeout-ms'], true);
  if (first.err) throw new Error(`first call to ${f.target}: ${first.err.message}`);
  console.log(`{"event":"ready","time":${nowNs()},"backend":${JSON.stringify(first.id)}}`);
  let ok = 0;
  for (let seq = 1; seq <= f.count; seq++) {
    const start = nowNs();
    const { err, id } = await call(client, f['deadline-ms'], false);
    const line = { event: 'rpc', seq, start: 0, end: 0, backend: err ? '' : id, code: err ? codeName(err.code) : 'OK' };
    if (err) line.error = err.message; else ok++;
    console.log(JSON.stringify(line).replace('"start":0', `"start":${start}`).replace('"end":0', `"end":${nowNs()}`));
    await new Promise((r) => setTimeout(r, 1000 / f.rate));
  }
  console.log(`{"event":"done","sent":${f.count},"ok":${ok}}`);
  client.close();
}

main().then(() => process.exit(0), (err) => {
  console.error(`grpc-js-xds client failed: ${err.message}`);
  process.exit(1);
});
