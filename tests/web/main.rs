//! Integration tests: the real server on port 0, a temp database, an injected clock.
//! One binary with modules (fast to link); each test name says the behaviour it proves.

mod account;
mod addresses;
mod api;
mod api_orgs;
mod api_tags;
mod bad_input;
mod browser_defences;
mod burst;
mod html;
mod hub_tool;
mod login;
mod matrix;
mod org_grants;
mod org_token_pages;
mod org_tokens;
mod orgs;
mod overview;
mod registry_token;
mod repositories;
mod resubmit;
mod session_end;
mod sessions;
mod signin_events;
mod signing_keys;
mod signup;
mod slow_bodies;
mod throttle;
mod token_scope;
mod tokens;
mod twofactor;
mod user_text;
mod webhooks;
