import fs from 'node:fs';
import tls from 'node:tls';
import t from 'tap';
import { trustedCas, trustedContext } from '../../src/client/trusted-cas.js';
import { makeCertificate } from '../fixtures/processes/tls-files.js';
import { tempDir } from '../fixtures/stacks/control-plane.js';

t.test("tls: true trusts Node's list, the system's bundle, and NODE_EXTRA_CA_CERTS", async (t) => {
  const { cert } = makeCertificate(tempDir(t));
  const before = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = cert;
  t.teardown(() => {
    if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = before;
  });
  const trusted = trustedCas().join('\n');
  t.ok(
    tls.rootCertificates.every((root) => trusted.includes(root.trim())),
    "every root of Node's list",
  );
  t.ok(trusted.includes(fs.readFileSync(cert, 'utf8').trim()), 'the extra CA file');
  const system = '/etc/ssl/certs/ca-certificates.crt';
  if (fs.existsSync(system)) t.ok(trusted.includes(fs.readFileSync(system, 'utf8').trim()), "the system's bundle");
  t.equal(trustedContext(), trustedContext(), 'the context is made once');
});
