//! kawaraban: a feed aggregator and republisher that runs a curated news blog by itself.
//!
//! The flow, one module per stage: [`config`] → [`fetch`] → [`parse`] → [`ingest`]
//! (sanitize, key, store) → [`store`] → [`publish`] → [`server`]; [`daemon`] ties the
//! scheduler, the pipeline and the server together.

pub mod admin;
pub mod article;
pub mod config;
pub mod daemon;
pub mod editor;
pub mod extract;
pub mod fetch;
pub mod fulltext;
pub mod health;
pub mod ingest;
pub mod judge;
pub mod metrics;
pub mod parse;
pub mod publish;
pub mod reload;
pub mod sanitize;
pub mod server;
pub mod sources;
pub mod store;

/// Sent with every request, so publishers can see who polls them and how to reach us.
pub const USER_AGENT: &str = concat!(
    "kawaraban/",
    env!("CARGO_PKG_VERSION"),
    " (+",
    env!("CARGO_PKG_REPOSITORY"),
    ")"
);
