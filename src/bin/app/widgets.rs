//! Small things every panel uses: how a share is written, the charts' size.

/// Width and height of the charts of the panels below the run (sweeps, comparison, inside the
/// model), a little taller than the run's own ([`crate::run_panel::CHART_SIZE`]).
pub const CHART_SIZE: (f64, f64) = (480.0, 260.0);

/// Rules listed at first in the inspector; more on request.
pub const RULE_PAGE: usize = 60;

/// A share as a whole percentage: "52%".
pub fn percent(value: f64) -> String {
    format!("{:.0}%", 100.0 * value)
}
