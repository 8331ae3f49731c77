//! The registry token service: Berth as the token server of a Docker registry. Keys and certificate, the JWT, the grant rules, the repositories
//! they attach to, and the `/token` endpoint.

pub mod endpoint;
pub mod grants;
pub mod jwt;
pub mod keys;
pub mod repos;
