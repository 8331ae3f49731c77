//! The registry token service: Berth as the token server of a Docker registry. Keys and
//! certificate (`keys`), the JWT (`jwt`), the grant table (`grants`), the grant decision
//! for a request (`authorization`), and the `/token` endpoint that parses the request,
//! checks the credential and renders the answer (`endpoint`). The repositories the grants
//! attach to are their own room, `repositories`.

pub mod authorization;
pub mod client;
pub mod endpoint;
pub mod grants;
pub mod jwt;
pub mod keys;
