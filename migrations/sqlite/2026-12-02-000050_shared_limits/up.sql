-- Failed sign-in attempts and API request counts, shared by every Berth instance on this
-- database, so N instances behind a load balancer give an attacker no more attempts than
-- one. (A SQLite Berth is one process and keeps them in memory; the tables exist there
-- too so both schemas list the same tables.)

-- An account's consecutive failures: the back-off starts after the free ones. The key is
-- "user:ID", or "name:LOGIN" for a login name no account holds.
CREATE TABLE throttle_accounts (
    account TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure BIGINT NOT NULL
);

-- Each failure from a client IP, kept for the IP's sliding window.
CREATE TABLE throttle_ip_failures (
    id INTEGER PRIMARY KEY NOT NULL,
    ip TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX throttle_ip_failures_ip_at ON throttle_ip_failures (ip, at);

-- Attempts in flight: each counts as a failure until it is settled. One left behind by an
-- instance that died stops counting at expires_at.
CREATE TABLE throttle_reservations (
    id INTEGER PRIMARY KEY NOT NULL,
    account TEXT,
    ip TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX throttle_reservations_account ON throttle_reservations (account);
CREATE INDEX throttle_reservations_ip ON throttle_reservations (ip);

-- The JSON API's requests per caller in the current one-minute window.
CREATE TABLE rate_windows (
    caller TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits INTEGER NOT NULL
);
