//! Switchyard's integration tests, linked as one test binary: one module per feature, sharing
//! the harness in `common` (one binary instead of one per file keeps `target/` and link time small).
//!
//! Tests run concurrently in this one process, so none may depend on process-wide state; the
//! few that assert exact totals of the process-wide Prometheus recorder run in a process of
//! their own through `common::own_process`.

// helpers are `pub` for the modules of this one binary, never a public surface
#![allow(unreachable_pub)]

mod common;

mod adapter_anthropic;
mod adapter_gemini;
mod adapter_gemini_embed;
mod answer_headers;
mod architecture;
mod auth;
mod batches;
mod breaker;
mod budgets;
mod budgets_postgres;
mod cache;
mod cache_redis;
mod capability;
mod check_messages;
mod classify_eval;
mod cli_check;
mod cli_keys;
mod cli_small;
mod conformance;
mod connections;
mod context_overflow;
mod crash;
mod dashboard;
mod dashboard_cards;
mod dashboard_health;
mod doc_commands;
mod embed_batching;
mod endpoints;
mod errors;
mod faults;
mod fleet;
mod fleet_pacing;
mod fuzz;
mod guardrails;
mod health;
mod keys;
mod ledger;
mod ledger_postgres;
mod limits_redis;
mod messages;
mod metrics;
mod models_retrieve;
mod moderation;
mod operator_controls;
mod ops;
mod otel;
mod pacing;
mod provider_files;
mod provider_http;
mod quota_headroom;
mod rate_limits;
mod redis_cluster;
mod redis_sentinel;
mod redis_tls;
mod reload;
mod reload_messages;
mod report;
mod report_html;
mod report_layout;
mod responses;
mod responses_native;
mod responses_shared;
mod responses_store;
mod retry_failover;
mod routing;
mod secrets;
mod shared_health;
mod shared_state;
mod shutdown;
mod simulate;
mod stream_resume;
mod streaming;
mod tenants;
mod upstream_keys;
mod wire_mapping;
