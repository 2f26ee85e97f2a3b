//! Cost reports from the usage ledger, and strategy comparisons by offline replay (`simulate`).
//!
//! `report`: [`ledger_read`] reads ledger lines tolerantly → [`aggregate`] groups and sums them
//! inside a time [`aggregate::Window`] → [`report_view`] prints a table, CSV, JSON or HTML.
//!
//! `simulate`: [`workitem`] reads workload (or ledger) lines → [`simulate`] replays each through
//! every [`strategy`] with [`crate::pipeline::decide`] (no upstream call) and prices the pick →
//! [`comparison`] holds per-request choices and per-strategy totals → [`simulate_view`] prints.
//!
//! Charts are drawn here in plain SVG ([`svg`] primitives, [`charts`]) and embedded in one
//! self-contained page ([`html`]). Bad input lines are kept as [`input::BadLine`]s, never fatal.

pub mod aggregate;
pub mod charts;
pub mod comparison;
pub mod html;
pub mod input;
pub mod ledger_read;
pub mod report_view;
pub mod simulate;
pub mod simulate_view;
pub mod strategy;
pub mod svg;
pub mod table;
pub mod time;
pub mod workitem;
