//! Berth: accounts, two-factor authentication and personal access tokens for a private
//! container registry. The binary (`src/main.rs`) only parses the command line; everything
//! else lives here so tests can drive the real server and the domain functions directly.

pub mod accounts;
pub mod activity;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod db;
pub mod dev;
pub mod error;
pub mod http;
pub mod keys;
pub mod once;
pub mod org_tokens;
pub mod orgs;
pub mod owners;
pub mod registry;
pub mod repositories;
pub mod server;
pub mod sessions;
pub mod signin;
pub mod text;
pub mod throttle;
pub mod tokens;
pub mod twofactor;
pub mod web;
pub mod webhooks;

pub use error::Error;
