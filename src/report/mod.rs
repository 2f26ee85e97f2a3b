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

pub(crate) mod aggregate;
pub(crate) mod charts;
pub(crate) mod comparison;
pub(crate) mod html;
pub(crate) mod input;
pub(crate) mod ledger_read;
pub(crate) mod report_view;
pub(crate) mod simulate;
pub(crate) mod simulate_view;
pub(crate) mod strategy;
pub(crate) mod svg;
pub(crate) mod table;
pub(crate) mod time;
pub(crate) mod workitem;
