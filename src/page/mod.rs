//! The page's logic, kept free of web crates so it is tested natively: its state in parts with a
//! reducer each ([`state`]), share links ([`link`]), what it keeps in the browser's storage
//! ([`storage`]), the instruction inspector ([`inspect`]), the view inside the model ([`inside`]), charts ([`chart`]), the sweep views
//! ([`heatmap`]) and character diffs ([`diff`]). Imports the engine, the study layer and the
//! worker protocol; the yew components in `src/bin/app/` render it.

pub mod chart;
pub mod diff;
pub mod heatmap;
pub mod inside;
pub mod inspect;
pub mod link;
pub mod state;
pub mod storage;
pub mod trace;
