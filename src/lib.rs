//! Njia: a USSD and SMS channel server for government services.
//!
//! The major components, from the outside in:
//!
//! - [`server`]: the HTTP edge (axum on hyper), graceful shutdown, health.
//! - [`channel`]: one module per telco dialect; each turns its wire format into a [`hub::Hop`]
//!   and a [`hub::Reply`] back into its wire format. Nothing else knows a telco.
//! - [`hub`]: one USSD hop end to end: session, cumulative-input diffing, engine, lookups,
//!   durable submit.
//! - [`engine`]: the pure menu engine (no IO, no clock) and the screen renderer.
//! - [`menu`], [`i18n`], [`check`]: menus as data, words as Fluent, and the checker that
//!   reports every mistake in them with file and line.
//! - [`session`], [`store`], [`lookup`]: the traits at the IO edges and their embedded
//!   implementations (memory sessions, SQLite, data-file lookups).
//! - [`keywords`]: the SMS channel's keywords (`HALI NJ-7K2QX`) and their replies.
//! - [`search`]: the catalogue's search index (folded words, prefixes, one typo, ranking).
//! - [`money`], [`value`]: typed values (whole shillings, dates), parsed once where they enter.
//! - [`dial`]: the terminal phone behind `njia dial`.
//! - [`console`]: the administrators' console at `/console` (simulator, preview, map,
//!   helpdesk, drop-off), mounted on the server from above it.
//!
//! Imports run one way, down this list roughly: nothing below [`server`] imports it, and no
//! two modules import each other around a circle. The exact order is the table in
//! `tests/it/layers.rs` (and the Architecture Invariant in `ARCHITECTURE.md`) that the tests hold
//! the sources to.

pub mod admin;
pub mod agency;
mod autoreply;
pub mod catalogue_admin;
pub mod channel;
pub mod check;
pub mod clock;
pub mod config;
pub mod console;
pub mod diag;
pub mod dial;
pub mod engine;
pub mod graph;
pub mod gsm7;
pub mod handoff;
pub mod hub;
pub mod i18n;
pub mod journey;
pub mod keywords;
pub mod lifecycle;
pub mod limit;
pub mod logging;
pub mod lookup;
pub mod menu;
pub mod metrics;
pub mod money;
pub mod ops;
pub mod payment;
pub mod reconcile;
pub mod reload;
pub mod search;
pub mod server;
pub mod session;
pub mod shared;
pub mod sms;
pub mod stats;
pub mod store;
pub mod types;
pub mod value;
pub mod webhook;

/// A boxed future, the return type of the async traits at the IO edges (object-safe without
/// an extra macro crate).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
