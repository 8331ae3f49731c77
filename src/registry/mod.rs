//! The registry token service: Berth as the token server of a Docker registry. Keys and
//! certificate, the JWT, the grant rules, and the `/token` endpoint. (The repositories the
//! grants attach to are their own room, `repositories`.)

pub mod endpoint;
pub mod grants;
pub mod jwt;
pub mod keys;
