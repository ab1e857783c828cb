//! A sweep's results as pictures: runs binned into the cells of its grid (axis points x seeds), the
//! phase diagram's colour scale, the accuracy-against-`I` curve with its spread over seeds, and the
//! settings that differ between runs being compared.
//!
//! Plain functions of records, tested natively; the page draws what they return.

use crate::engine::config::ExperimentConfig;
use crate::page::chart::{LineChart, Series};
use crate::study::record::RunRecord;
use crate::study::sweep::SweepSpec;
use serde_json::Value;
use std::collections::BTreeMap;

/// Mean, lowest and highest of a value over the runs (seeds) of a cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Mean over runs.
    pub mean: f64,
    /// Lowest.
    pub min: f64,
    /// Highest.
    pub max: f64,
    /// Runs.
    pub count: usize,
}

impl Spread {
    /// The spread of some values, `None` when there is none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        (!values.is_empty()).then(|| Self {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            count: values.len(),
        })
    }
}

/// One point of the sweep grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Row (second axis point; 0 when the sweep has fewer than two axes).
    pub row: usize,
    /// Column (first axis point; 0 when the sweep has no axis).
    pub column: usize,
    /// Indices of the finished runs in this cell, one per seed done.
    pub runs: Vec<usize>,
    /// Final accuracy on held-out rules over those runs.
    pub unseen: Option<Spread>,
    /// Final accuracy on training rules (new inputs) over those runs.
    pub seen: Option<Spread>,
    /// Final accuracy on unseen programs of seen rules over those runs (runs of programs only).
    pub composed: Option<Spread>,
}

/// A sweep's finished runs binned by axis point: columns are the first axis (e.g. `I`), rows the
/// second (e.g. examples per rule `S`).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Name of the first axis.
    pub column_axis: String,
    /// Its point labels.
    pub columns: Vec<String>,
    /// Name of the second axis, if any.
    pub row_axis: Option<String>,
    /// Its point labels (one empty label when there is no second axis).
    pub rows: Vec<String>,
    /// Every cell, row-major.
    pub cells: Vec<Cell>,
    /// Runs that fit no cell (labels that match no axis point).
    pub unplaced: usize,
}

impl Cell {
    /// What its runs learned (from their mean accuracies), once it has a run.
    pub fn verdict(&self) -> Option<crate::study::verdict::Verdict> {
        Some(crate::study::verdict::Verdict::of(
            self.seen?.mean,
            self.unseen?.mean,
        ))
    }
}

impl Grid {
    /// Bins `runs` (records of `spec`'s sweep, placed by their axis labels). Axes past the second are
    /// folded into the cells like seeds.
    pub fn bin<'a>(spec: &SweepSpec, runs: impl IntoIterator<Item = &'a RunRecord>) -> Self {
        let runs: Vec<&RunRecord> = runs.into_iter().collect();
        let labels = |axis: Option<&crate::study::sweep::Axis>| match axis {
            Some(axis) => axis.points.iter().map(|p| p.label.clone()).collect(),
            None => vec![String::new()],
        };
        let columns: Vec<String> = labels(spec.axes.first());
        let rows: Vec<String> = labels(spec.axes.get(1));
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); rows.len() * columns.len()];
        let mut unplaced = 0;
        for (index, run) in runs.iter().enumerate() {
            let position = |axis: usize, names: &[String]| match spec.axes.get(axis) {
                None => Some(0),
                Some(_) => {
                    let label = run.labels.get(axis)?;
                    names.iter().position(|n| n == label)
                }
            };
            match (position(0, &columns), position(1, &rows)) {
                (Some(column), Some(row)) => members[row * columns.len() + column].push(index),
                _ => unplaced += 1,
            }
        }
        let cells = members
            .into_iter()
            .enumerate()
            .map(|(i, members)| Cell {
                row: i / columns.len(),
                column: i % columns.len(),
                unseen: Spread::of(members.iter().map(|&r| runs[r].result.unseen_accuracy)),
                seen: Spread::of(members.iter().map(|&r| runs[r].result.seen_accuracy)),
                composed: Spread::of(
                    members
                        .iter()
                        .filter_map(|&r| runs[r].result.composed_accuracy),
                ),
                runs: members,
            })
            .collect();
        Self {
            column_axis: spec
                .axes
                .first()
                .map_or_else(|| "run".into(), |a| a.name.clone()),
            columns,
            row_axis: spec.axes.get(1).map(|a| a.name.clone()),
            rows,
            cells,
            unplaced,
        }
    }

    /// The cell at a row and column.
    pub fn cell(&self, row: usize, column: usize) -> &Cell {
        &self.cells[row * self.columns.len() + column]
    }

    /// Cells with at least one finished run.
    pub fn filled(&self) -> usize {
        self.cells.iter().filter(|c| !c.runs.is_empty()).count()
    }

    /// Where each column sits on the curve's x axis, and whether that axis is logarithmic: numeric
    /// labels (rule counts, shares) are placed by value, on a log axis when they are positive and
    /// span a factor of 4 or more; other labels (semantic families) are placed 0, 1, 2, ...
    pub fn column_positions(&self) -> (Vec<f64>, bool) {
        let numbers: Option<Vec<f64>> = self
            .columns
            .iter()
            .map(|l| l.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        match numbers {
            Some(values) if !values.is_empty() => {
                let (min, max) = values
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                let log = min > 0.0 && max / min >= 4.0;
                (values, log)
            }
            _ => ((0..self.columns.len()).map(|i| i as f64).collect(), false),
        }
    }

    /// Final accuracy against the first axis: with one row, held-out and training rules; with two
    /// axes, held-out rules once per row (named by the row's label; the title names the axis). A dot per filled cell and, where a cell has several seeds,
    /// a band from the lowest to the highest.
    pub fn curve(&self) -> LineChart {
        let (xs, log_x) = self.column_positions();
        let series_of =
            |row: usize, name: String, color: &str, pick: fn(&Cell) -> Option<Spread>| {
                let spreads: Vec<(f64, Spread)> = (0..self.columns.len())
                    .filter_map(|c| Some((xs[c], pick(self.cell(row, c))?)))
                    .collect();
                let several_seeds = spreads.iter().any(|(_, s)| s.count > 1);
                Series {
                    name,
                    color: color.into(),
                    points: spreads.iter().map(|(x, s)| (*x, s.mean)).collect(),
                    markers: true,
                    band: if several_seeds {
                        spreads.iter().map(|(x, s)| (*x, s.min, s.max)).collect()
                    } else {
                        Vec::new()
                    },
                }
            };
        let series = match &self.row_axis {
            None => {
                let mut series = vec![
                    series_of(0, "unseen rules".into(), UNSEEN_COLOR, |c| c.unseen),
                    series_of(0, "seen rules".into(), SEEN_COLOR, |c| c.seen),
                ];
                // Programs: unseen pairings of seen rules, the lesson's other kind.
                if self.cells.iter().any(|c| c.composed.is_some()) {
                    series.push(series_of(0, "composed".into(), COMPOSED_COLOR, |c| {
                        c.composed
                    }));
                }
                series
            }
            Some(_) => self
                .rows
                .iter()
                .enumerate()
                .map(|(row, label)| {
                    series_of(
                        row,
                        label.clone(),
                        ROW_COLORS[row % ROW_COLORS.len()],
                        |c| c.unseen,
                    )
                })
                .collect(),
        };
        LineChart {
            // Short: the legend shares the title's line.
            title: match &self.row_axis {
                None => "Final accuracy".into(),
                Some(axis) => format!("Unseen, by {axis}"),
            },
            x_label: self.column_axis.clone(),
            series,
            y_range: Some((0.0, 1.0)),
            log_x,
            // Every point of the axis is labelled: a log axis over 4 to 16 would show one decade tick.
            x_labels: xs
                .iter()
                .copied()
                .zip(self.columns.iter().cloned())
                .collect(),
            // With one row, what each point's runs learned, under its label.
            x_notes: match self.row_axis {
                None => (0..self.columns.len())
                    .filter_map(|c| Some((xs[c], self.cell(0, c).verdict()?.label().to_string())))
                    .collect(),
                Some(_) => Vec::new(),
            },
        }
    }
}

/// Text in the colour of unseen-rule accuracy, dark enough to read on white (contrast 4.5:1 and
/// more, WCAG AA).
pub const UNSEEN_TEXT_COLOR: &str = "#b3261e";
/// Text in the colour of seen-rule accuracy, dark enough to read on white.
pub const SEEN_TEXT_COLOR: &str = "#1b6e2b";
/// Colour of composed-program accuracy (unseen programs of seen rules) on every chart.
pub const COMPOSED_COLOR: &str = "#e69f00";
/// Colour of held-out-rule accuracy on every chart.
pub const UNSEEN_COLOR: &str = "#d62728";
/// Colour of training-rule accuracy on every chart.
pub const SEEN_COLOR: &str = "#2ca02c";
/// Colours of the curves of a two-axis sweep, one per row.
const ROW_COLORS: [&str; 6] = [
    "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf",
];

/// The phase diagram's colour scale: accuracy in ten bins of 10 points each, from dark purple (0%)
/// to yellow (100%), sampled from viridis (perceptually even, readable in grey and by most colour-
/// blind readers). Bins rather than a continuous ramp, so a reader can match a cell to the legend.
pub struct ColorScale;

/// Viridis at the middle of each bin.
const VIRIDIS_BINS: [&str; 10] = [
    "#471365", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70",
    "#7ad151", "#bddf26",
];

/// Colour of a cell with no finished run.
pub const EMPTY_CELL_COLOR: &str = "#eceff4";

impl ColorScale {
    /// Number of bins.
    pub const BINS: usize = VIRIDIS_BINS.len();

    /// The bin of an accuracy in [0, 1]: `[0, 0.1)` is bin 0, ..., `[0.9, 1]` bin 9. Values outside
    /// the range are clamped; NaN falls in bin 0.
    pub fn bin(accuracy: f64) -> usize {
        if accuracy.is_nan() {
            return 0;
        }
        ((accuracy.clamp(0.0, 1.0) * Self::BINS as f64) as usize).min(Self::BINS - 1)
    }

    /// The fill of a cell: its bin's colour, or the empty colour when no run finished.
    pub fn color(accuracy: Option<f64>) -> &'static str {
        accuracy.map_or(EMPTY_CELL_COLOR, |a| VIRIDIS_BINS[Self::bin(a)])
    }

    /// Text colour that stays readable on [`Self::color`]: white on the dark bins.
    pub fn text_color(accuracy: Option<f64>) -> &'static str {
        match accuracy {
            Some(a) if Self::bin(a) < 6 => "#ffffff",
            _ => "#1d2330",
        }
    }

    /// Legend entries: each bin's label (`0-10%`) and colour.
    pub fn legend() -> Vec<(String, &'static str)> {
        VIRIDIS_BINS
            .iter()
            .enumerate()
            .map(|(i, &c)| (format!("{}-{}%", 10 * i, 10 * (i + 1)), c))
            .collect()
    }
}

/// Settings that differ between configs, by dotted path, with each config's value as text; the
/// compare view's table. Paths where every config agrees are left out.
pub fn differing_settings(configs: &[&ExperimentConfig]) -> Vec<(String, Vec<String>)> {
    let flat: Vec<BTreeMap<String, String>> = configs
        .iter()
        .map(|c| {
            let mut out = BTreeMap::new();
            flatten(
                "",
                &serde_json::to_value(c).expect("configs serialize"),
                &mut out,
            );
            out
        })
        .collect();
    let mut paths: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let values: Vec<String> = flat
                .iter()
                .map(|m| m.get(path).cloned().unwrap_or_else(|| "—".into()))
                .collect();
            values
                .iter()
                .any(|v| v != &values[0])
                .then(|| (path.clone(), values))
        })
        .collect()
}

/// Leaves of a JSON value by dotted path; arrays and enum payloads are kept whole, as compact JSON.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        // Objects with several keys are settings groups; an object with one key is an enum's
        // variant (`{"total": 20000}`), shown whole.
        Value::Object(map) if map.len() > 1 || prefix.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.into(), s.clone());
        }
        other => {
            out.insert(prefix.into(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Budget;
    use crate::engine::metrics::EvalSummary;
    use crate::study::sweep::Axis;

    fn spec(two_axes: bool) -> SweepSpec {
        let mut axes = vec![Axis::values(
            "instructions",
            "task.instructions",
            [4usize, 16, 64],
        )];
        if two_axes {
            axes.push(Axis::examples_per_rule([10, 40]));
        }
        SweepSpec {
            base: ExperimentConfig::default(),
            axes,
            seeds: vec![1, 2],
        }
    }

    fn record(labels: &[&str], seed: u64, unseen: f64, seen: f64) -> RunRecord {
        let config = ExperimentConfig {
            seed,
            ..ExperimentConfig::default()
        };
        RunRecord {
            labels: labels.iter().map(|s| s.to_string()).collect(),
            config,
            instructions: 0,
            examples_per_rule: 0.0,
            rules_with_examples: 0,
            steps: 10,
            result: EvalSummary {
                step: 10,
                seen_accuracy: seen,
                unseen_accuracy: unseen,
                unseen_hasop_accuracy: unseen,
                noop_accuracy: 1.0,
                composed_accuracy: None,
            },
            final_loss: 0.5,
            losses: Vec::new(),
            evaluations: Vec::new(),
            inside: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 1.0,
        }
    }

    #[test]
    fn runs_are_binned_by_their_labels_and_seeds_pooled() {
        let runs = vec![
            record(&["4", "10"], 1, 0.0, 0.9),
            record(&["64", "40"], 1, 0.6, 0.95),
            record(&["64", "40"], 2, 0.8, 0.97),
            record(&["5", "10"], 1, 0.5, 0.5), // no such point
        ];
        let grid = Grid::bin(&spec(true), &runs);
        assert_eq!(grid.columns, ["4", "16", "64"]);
        assert_eq!(grid.rows, ["10", "40"]);
        assert_eq!(grid.cells.len(), 6);
        assert_eq!(grid.filled(), 2);
        assert_eq!(grid.unplaced, 1);
        let cell = grid.cell(1, 2);
        assert_eq!(cell.runs, vec![1, 2]);
        let unseen = cell.unseen.unwrap();
        assert!((unseen.mean - 0.7).abs() < 1e-12);
        assert_eq!((unseen.min, unseen.max, unseen.count), (0.6, 0.8, 2));
        assert_eq!(grid.cell(0, 0).runs, vec![0]);
        assert!(grid.cell(0, 1).unseen.is_none());
    }

    #[test]
    fn a_sweep_without_axes_is_one_cell() {
        let mut spec = spec(false);
        spec.axes.clear();
        let grid = Grid::bin(&spec, &[record(&[], 1, 0.3, 0.9)]);
        assert_eq!((grid.rows.len(), grid.columns.len()), (1, 1));
        assert_eq!(grid.cell(0, 0).runs, vec![0]);
    }

    #[test]
    fn the_curve_gains_a_dot_per_filled_cell_and_bands_with_seeds() {
        let one = Grid::bin(&spec(false), &[record(&["4"], 1, 0.1, 0.9)]);
        let chart = one.curve();
        assert!(chart.log_x, "4 to 64 rules: log axis");
        assert_eq!(chart.series[0].points, vec![(4.0, 0.1)]);
        assert_eq!(chart.series[1].points, vec![(4.0, 0.9)]);
        assert!(chart.series[0].band.is_empty());
        assert_eq!(
            chart.x_labels,
            [(4.0, "4".into()), (16.0, "16".into()), (64.0, "64".into())]
        );
        let runs = vec![
            record(&["4"], 1, 0.1, 0.9),
            record(&["16"], 1, 0.3, 0.9),
            record(&["4"], 2, 0.2, 0.9),
        ];
        let chart = Grid::bin(&spec(false), &runs).curve();
        assert_eq!(chart.series[0].points.len(), 2);
        assert_eq!(chart.series[0].band[0], (4.0, 0.1, 0.2));
        let two = Grid::bin(&spec(true), &[record(&["4", "40"], 1, 0.1, 0.9)]).curve();
        assert_eq!(two.series.len(), 2, "one curve per examples-per-rule value");
        assert_eq!(two.series[1].points, vec![(4.0, 0.1)]);
    }

    #[test]
    fn named_points_are_placed_evenly_with_their_labels() {
        let mut spec = spec(false);
        spec.axes = vec![Axis::values("family", "task.alphabet", [4usize, 5])];
        spec.axes[0].points[0].label = "mirrored".into();
        spec.axes[0].points[1].label = "periodic".into();
        let chart = Grid::bin(&spec, &[record(&["periodic"], 1, 0.4, 0.9)]).curve();
        assert!(!chart.log_x);
        assert_eq!(chart.series[0].points, vec![(1.0, 0.4)]);
        assert_eq!(chart.x_labels[1], (1.0, "periodic".to_string()));
        // Shares from 0 to 0.5: numeric, linear.
        let grid = Grid {
            columns: vec!["0".into(), "0.25".into(), "0.5".into()],
            ..Grid::bin(&spec, &Vec::new())
        };
        assert_eq!(grid.column_positions(), (vec![0.0, 0.25, 0.5], false));
    }

    #[test]
    fn colour_bins_cover_zero_to_one_and_clamp() {
        assert_eq!(ColorScale::bin(0.0), 0);
        assert_eq!(ColorScale::bin(0.099), 0);
        assert_eq!(ColorScale::bin(0.1), 1);
        assert_eq!(ColorScale::bin(0.55), 5);
        assert_eq!(ColorScale::bin(0.999), 9);
        assert_eq!(ColorScale::bin(1.0), 9);
        assert_eq!(ColorScale::bin(1.7), 9);
        assert_eq!(ColorScale::bin(-0.2), 0);
        assert_eq!(ColorScale::bin(f64::NAN), 0);
        assert_eq!(ColorScale::color(None), EMPTY_CELL_COLOR);
        assert_ne!(ColorScale::color(Some(0.0)), ColorScale::color(Some(1.0)));
        assert_eq!(ColorScale::text_color(Some(0.05)), "#ffffff");
        assert_eq!(ColorScale::text_color(Some(0.95)), "#1d2330");
        let legend = ColorScale::legend();
        assert_eq!(legend.len(), 10);
        assert_eq!(legend[0].0, "0-10%");
        assert_eq!(legend[9].0, "90-100%");
        // Lighter as accuracy grows: the green channel rises bin after bin.
        let green = |c: &str| u8::from_str_radix(&c[3..5], 16).unwrap();
        assert!(legend.windows(2).all(|w| green(w[0].1) < green(w[1].1)));
    }

    #[test]
    fn compare_lists_only_the_settings_that_differ() {
        let a = ExperimentConfig::default();
        let mut b = a.clone();
        b.task.instructions = 16;
        b.task.budget = Budget::PerRule(40);
        b.seed = 9;
        let rows = differing_settings(&[&a, &b]);
        let paths: Vec<&str> = rows.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["seed", "task.budget", "task.instructions"]);
        assert_eq!(rows[2].1, ["1000", "16"]);
        assert_eq!(rows[1].1, [r#"{"total":20000}"#, r#"{"per_rule":40}"#]);
        assert!(differing_settings(&[&a, &a]).is_empty());
    }

    #[test]
    fn each_point_of_a_one_axis_sweep_says_what_its_runs_learned() {
        let records = [
            record(&["4"], 1, 0.05, 0.95),
            record(&["16"], 1, 0.3, 0.2),
            record(&["64"], 1, 0.8, 0.9),
        ];
        let grid = Grid::bin(&spec(false), records.iter());
        let verdicts: Vec<Option<&str>> = (0..3)
            .map(|c| grid.cell(0, c).verdict().map(|v| v.label()))
            .collect();
        assert_eq!(
            verdicts,
            [
                Some("memorized"),
                Some("not learned yet"),
                Some("generalized")
            ]
        );
        let curve = grid.curve();
        let notes: Vec<&str> = curve.x_notes.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(notes, ["memorized", "not learned yet", "generalized"]);
        assert!(curve.to_svg(480.0, 260.0).contains(">generalized</text>"));
        assert!(
            Grid::bin(&spec(true), records.iter())
                .curve()
                .x_notes
                .is_empty()
        );
    }
}
