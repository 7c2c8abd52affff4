/**
 * The versioned schema of the shared store, oldest first. A migration, once released, never changes
 * (the runner compares checksums and refuses a database whose applied migrations differ): a change
 * is a new migration with the next version. docs/storage.md describes every table.
 */

/** One step of the schema. */
export interface Migration {
  /** 1, 2, 3...: applied in order, each once. */
  version: number;
  name: string;
  /** Statements run in one transaction with the version row. */
  sql: string;
}

const V1_INITIAL = `
-- The registry: one row a node. record is the whole stored record (fields a newer version adds are kept).
CREATE TABLE proxima_nodes (
  name         text PRIMARY KEY,
  key_id       text NOT NULL,
  created_at   timestamptz NOT NULL,
  last_seen_at timestamptz,
  services     text[] NOT NULL DEFAULT '{}',
  record       jsonb NOT NULL
);

-- Secrets the super node keeps (the registry secret node keys are derived from), by name.
CREATE TABLE proxima_secrets (
  name       text PRIMARY KEY,
  value      bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys the server keeps (keys add): the SHA-256 of a key, never the key.
CREATE TABLE proxima_api_keys (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  sha256     text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz,
  record     jsonb NOT NULL
);
-- A working key's name is unique; a revoked key's name may be used again.
CREATE UNIQUE INDEX proxima_api_keys_working_name ON proxima_api_keys (name) WHERE revoked_at IS NULL;

-- The usage ledger: request, probe, canary and flag records. id makes an insert idempotent (the
-- request id; for the others a digest of the record). seq is the order they were written in.
CREATE TABLE proxima_ledger (
  id         text PRIMARY KEY,
  seq        bigint GENERATED ALWAYS AS IDENTITY,
  type       text NOT NULL CHECK (type IN ('request', 'probe', 'canary', 'flag')),
  time       timestamptz NOT NULL,
  node       text NOT NULL,
  record     jsonb NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX proxima_ledger_seq ON proxima_ledger (seq);
CREATE INDEX proxima_ledger_time ON proxima_ledger (time);
CREATE INDEX proxima_ledger_node_time ON proxima_ledger (node, time);
CREATE INDEX proxima_ledger_type_time ON proxima_ledger (type, time);

-- Canaries a node has passed (in memory before, reset on restart).
CREATE TABLE proxima_canary_passes (
  node       text PRIMARY KEY,
  passed     bigint NOT NULL DEFAULT 0 CHECK (passed >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Live super node instances: each renews its own lease row; one whose lease has expired is dead.
CREATE TABLE proxima_instances (
  id          text PRIMARY KEY,
  peer        text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz NOT NULL
);
CREATE INDEX proxima_instances_lease ON proxima_instances (lease_until);

-- Presence: which instance holds each connected node's session, with what it advertised. Written
-- when a node connects, changes its adverts or leaves; never on a heartbeat (the lease covers those).
CREATE TABLE proxima_presence (
  node         text PRIMARY KEY REFERENCES proxima_nodes (name) ON DELETE CASCADE,
  instance     text NOT NULL REFERENCES proxima_instances (id) ON DELETE CASCADE,
  session      text NOT NULL,
  connected_at timestamptz NOT NULL,
  services     jsonb NOT NULL DEFAULT '[]',
  models       jsonb NOT NULL DEFAULT '[]',
  capacity     integer CHECK (capacity IS NULL OR capacity > 0),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proxima_presence_instance ON proxima_presence (instance);
`;

// Presence as `nodes list` shows it: where a node's control connection comes from, its client's version.
const V2_PRESENCE_PEER = `
ALTER TABLE proxima_presence ADD COLUMN address text, ADD COLUMN client_version text;
`;

// A node token names its key id: the registry finds its node by it (tokens presented over HTTP).
const V3_NODES_KEY_ID = `
CREATE INDEX proxima_nodes_key_id ON proxima_nodes (key_id);
`;

/** Every migration, by version. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sql: V1_INITIAL },
  { version: 2, name: 'presence address and client version', sql: V2_PRESENCE_PEER },
  { version: 3, name: 'nodes by key id', sql: V3_NODES_KEY_ID },
];
