//! The integration tests, one binary. Each module was a test binary of its own; linking 22 of
//! them against the whole dependency tree cost more than compiling them, so they share one
//! (`cargo test --test it store::` runs one module). Two stay apart, each in a process of its
//! own: `tests/reload_signal.rs` sends SIGHUP to its own process, which would reload every
//! other test's server here, and `tests/crash_retry.rs` times a SIGKILL against the answers a
//! crowd of citizens gets, which tests running beside it on the same few threads made it miss.
//!
//! Tests here share one process: nothing in them may change process-wide state (environment,
//! current directory, signal handlers, a global tracing subscriber). The Prometheus registry
//! is process-wide too, so a test reads a counter as a difference or counts only what no other
//! test here increments.

#[path = "../common/mod.rs"]
mod common;

mod africastalking;
mod backup;
mod browser;
mod catalogue;
mod catalogue_cli;
mod catalogue_scale;
mod channel_auth;
mod channels;
mod check_rules;
mod cli;
mod console;
mod daraja_client;
mod dialects;
mod doubles;
mod engine;
mod engine_features;
mod graph;
mod handoff;
mod hub;
mod journeys;
mod layers;
mod logs;
mod metrics;
mod money;
mod ops;
mod package;
mod readme;
mod receipts;
mod recent;
mod reconcile;
mod reload;
mod resume;
mod retention;
mod scale_out;
mod server;
mod sessions;
mod sms_channel;
mod stats;
mod store;
mod trust;
