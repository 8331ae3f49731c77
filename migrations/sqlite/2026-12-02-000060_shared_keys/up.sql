-- What every Berth instance on one database must share besides the rows: proof of the master
-- key, and the registry signing keys. Both lived in the data folder; several instances have
-- no common data folder, so they move into the database.

-- One row: a value derived from the master key (an HMAC under an HKDF-derived key, never the
-- key itself), recorded by the first start. An instance whose master key derives another
-- value refuses to start: it could open none of the sealed secrets.
CREATE TABLE key_check (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    mac BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- Registry signing keys (ES256). A key is published (its certificate in the registry's
-- bundle) when made; it signs once activated; the signing key is the one activated last.
CREATE TABLE signing_keys (
    id INTEGER PRIMARY KEY NOT NULL,
    -- libtrust key id of the public key: the JWT header's `kid`
    kid TEXT NOT NULL,
    -- PKCS#8 private key, AEAD-sealed under a key derived from the master key and bound to
    -- kid; NULL for a certificate kept without its key (retired before the keys moved here)
    sealed_private BLOB,
    -- the self-signed certificate the registry trusts (public)
    cert_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- the order of activations: unique, so of two instances creating the first key, or two
    -- activations at once, one wins and the other reads what won
    activation INTEGER,
    activated_at BIGINT,
    -- out of the bundle: it verifies no token any more
    retired_at BIGINT,
    CHECK ((activation IS NULL) = (activated_at IS NULL))
);
CREATE UNIQUE INDEX signing_keys_kid ON signing_keys (kid);
CREATE UNIQUE INDEX signing_keys_activation ON signing_keys (activation);
