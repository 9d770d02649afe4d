// node-oidc-provider configured for the benchmark's client_credentials scenario: one
// confidential client (client_secret_basic), JWT access tokens signed RS256 for one
// resource server. Started by bench/peer.py with
//   PEER_PORT, PEER_CLIENT_ID, PEER_CLIENT_SECRET, PEER_WORKERS
// A primary process forks PEER_WORKERS workers (node:cluster), as gunicorn runs our
// provider in sync workers: node runs JavaScript on one thread per process.
import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import { Provider } from 'oidc-provider';

const RESOURCE = 'https://api.bench.test';

function configuration(signingKey) {
  return {
    clients: [{
      client_id: process.env.PEER_CLIENT_ID,
      client_secret: process.env.PEER_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api:read',
    }],
    // As ours: a client gets the scopes it asks among those allowed to it (the bench
    // asks none). JWT access tokens are not stored: the in-memory adapter does no work.
    scopes: ['api:read'],
    jwks: { keys: [signingKey] },
    // No cookie is set by this grant: a key only silences the start-up warning.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter (our request has none): this one resource server.
        defaultResource: () => RESOURCE,
        getResourceServerInfo: () => ({
          audience: RESOURCE,
          scope: 'api:read',
          accessTokenTTL: 600, // ours: [oidc] access_token_ttl
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  };
}

function serve() {
  const port = Number(process.env.PEER_PORT);
  const signingKey = JSON.parse(process.env.PEER_SIGNING_JWK);
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration(signingKey));
  provider.listen(port, '127.0.0.1');
}

if (cluster.isPrimary) {
  // One key for every worker: a token verifies whichever worker made it.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256',
                kid: randomBytes(8).toString('base64url') };
  const env = { PEER_SIGNING_JWK: JSON.stringify(jwk) };
  for (let i = 0; i < Number(process.env.PEER_WORKERS || 1); i += 1) cluster.fork(env);
  // A worker that dies ends the run: its figures would be wrong.
  cluster.on('exit', () => process.exit(1));
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  serve();
}
