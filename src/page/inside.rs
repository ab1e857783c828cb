//! The "Inside the model" view's logic: the head scores over training beside the run's accuracy on
//! one step axis, the embedding's frames aligned for animation, and, across a sweep, each run's
//! best head score against its number of rules. Plain data in, chart data out, tested natively.

use crate::engine::mechanism::{HeadScores, Inside, Measure, Projection};
use crate::engine::metrics::EvalSummary;
use crate::page::chart::{LineChart, Series};
use crate::study::record::RunRecord;
use std::collections::BTreeMap;

/// The head lines' colours: Okabe and Ito's colour-blind-safe palette (*Color Universal Design*,
/// 2008) without its green and vermillion, which the page's seen (green) and unseen (red) lines
/// use, and without its yellow, too pale on white; a grey for the fifth line (the picked head).
pub const PALETTE: [&str; 5] = ["#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#7a7f8c"];

/// Colour of the unseen-accuracy line: the page's colour for unseen rules.
pub const UNSEEN_LINE: &str = crate::page::heatmap::UNSEEN_COLOR;

/// Colour of the seen-accuracy line: the page's colour for seen rules.
pub const SEEN_LINE: &str = crate::page::heatmap::SEEN_COLOR;

/// Heads drawn at most on the chart besides the picked one: the highest-scoring at the end.
pub const HEADS_SHOWN: usize = 4;

/// Which rules' head scores the view shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoreSplit {
    /// Held-out rules: where a generalizer must read the rule from the prompt.
    #[default]
    Unseen,
    /// Seen rules on new inputs.
    Seen,
}

impl ScoreSplit {
    /// The scores of this split at one evaluation.
    pub fn of(self, inside: &Inside) -> &HeadScores {
        match self {
            ScoreSplit::Unseen => &inside.unseen,
            ScoreSplit::Seen => &inside.seen,
        }
    }

    /// Its name in the view.
    pub fn name(self) -> &'static str {
        match self {
            ScoreSplit::Unseen => "held-out rules",
            ScoreSplit::Seen => "seen rules",
        }
    }
}

/// A head's name as the view writes it: layers and heads count from 1 for readers (`L2 H1`); the
/// CLI's `--heads` counts from 0 (`1.0`).
pub fn head_name(layer: usize, head: usize) -> String {
    format!("L{} H{}", layer + 1, head + 1)
}

/// A measure's short name in the view (the CLI's and the CSV's is [`Measure::name`]).
pub fn measure_label(measure: Measure) -> &'static str {
    match measure {
        Measure::Copy => "copy",
        Measure::Substitute => "substitute",
        Measure::MatchX => "match",
    }
}

/// A measure's name in the view's menu.
pub fn measure_name(measure: Measure) -> &'static str {
    match measure {
        Measure::Copy => "copy (attention on the input letter copied)",
        Measure::Substitute => "substitute (attention on the y letter written)",
        Measure::MatchX => "match (attention on x where the rewrite starts)",
    }
}

/// The heads to draw: the `HEADS_SHOWN` highest-scoring at the last evaluation with a score, and
/// the picked head, as `(layer, head)`, best first.
pub fn heads_shown(
    insides: &[&Inside],
    split: ScoreSplit,
    measure: Measure,
    picked: Option<(usize, usize)>,
) -> Vec<(usize, usize)> {
    let Some(last) = insides
        .iter()
        .rev()
        .find(|i| split.of(i).of(measure).is_some())
    else {
        return picked.into_iter().collect();
    };
    let scores = split.of(last);
    let values = scores.of(measure).unwrap_or_default();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let heads = scores.heads.max(1);
    let mut shown: Vec<(usize, usize)> = order
        .into_iter()
        .take(HEADS_SHOWN)
        .map(|i| (i / heads, i % heads))
        .collect();
    if let Some(p) = picked.filter(|p| !shown.contains(p)) {
        shown.push(p);
    }
    shown
}

/// The chart of one run's insides: seen and unseen accuracy (from `evaluations`) and the shown
/// heads' scores of `measure` on `split`, all in [0, 1] on one step axis.
pub fn head_chart(
    insides: &[&Inside],
    evaluations: &[EvalSummary],
    split: ScoreSplit,
    measure: Measure,
    picked: Option<(usize, usize)>,
) -> LineChart {
    let mut series = vec![
        Series {
            name: "unseen".into(),
            color: UNSEEN_LINE.into(),
            points: evaluations
                .iter()
                .map(|e| (e.step as f64, e.unseen_accuracy))
                .collect(),
            markers: false,
            band: Vec::new(),
        },
        Series {
            name: "seen".into(),
            color: SEEN_LINE.into(),
            points: evaluations
                .iter()
                .map(|e| (e.step as f64, e.seen_accuracy))
                .collect(),
            markers: false,
            band: Vec::new(),
        },
    ];
    for (n, (layer, head)) in heads_shown(insides, split, measure, picked)
        .into_iter()
        .enumerate()
    {
        let points = insides
            .iter()
            .filter_map(|i| {
                let scores = split.of(i);
                let value = scores.of(measure)?.get(layer * scores.heads + head)?;
                Some((i.step as f64, f64::from(*value)))
            })
            .collect();
        series.push(Series {
            // Short: the legend holds six names in the chart's width. The measure is the view's
            // choice, said beside the chart; the picked head has markers.
            name: head_name(layer, head),
            color: PALETTE[n % PALETTE.len()].into(),
            points,
            markers: picked == Some((layer, head)),
            band: Vec::new(),
        });
    }
    LineChart {
        title: "Head scores".into(),
        x_label: "step".into(),
        series,
        y_range: Some((0.0, 1.0)),
        log_x: false,
        x_labels: Vec::new(),
        x_notes: Vec::new(),
    }
}

/// The embedding's frames, each component's sign flipped where that makes it agree best with the
/// frame before (a principal component's sign is arbitrary: unaligned, an animation would jump
/// between mirror images). Points of tokens missing from a frame are left as they are.
pub fn aligned_frames(frames: &[&Projection]) -> Vec<Vec<[f32; 2]>> {
    let mut out: Vec<Vec<[f32; 2]>> = Vec::with_capacity(frames.len());
    for frame in frames {
        let mut points = frame.points.clone();
        if let Some(previous) = out.last() {
            for axis in 0..2 {
                let agreement: f32 = points
                    .iter()
                    .zip(previous)
                    .map(|(p, q)| p[axis] * q[axis])
                    .sum();
                if agreement < 0.0 {
                    points.iter_mut().for_each(|p| p[axis] = -p[axis]);
                }
            }
        }
        out.push(points);
    }
    out
}

/// One number of rules in the sweep view: each run's final best head score and unseen accuracy.
#[derive(Clone, Debug, PartialEq)]
pub struct RulePoint {
    /// Distinct training rules.
    pub instructions: usize,
    /// Each run's best head score of the measure on held-out rules at its last evaluation.
    pub scores: Vec<f64>,
    /// Each run's final unseen accuracy.
    pub unseen: Vec<f64>,
}

/// Per number of rules (ascending), the final best head scores of `measure` on held-out rules of
/// the runs that measured them (records made before head scores have none, and are left out).
pub fn sweep_points(records: &[&RunRecord], measure: Measure) -> Vec<RulePoint> {
    let mut groups: BTreeMap<usize, RulePoint> = BTreeMap::new();
    for record in records {
        let Some((_, _, best)) = record.inside.last().and_then(|i| i.unseen.best(measure)) else {
            continue;
        };
        let point = groups
            .entry(record.instructions)
            .or_insert_with(|| RulePoint {
                instructions: record.instructions,
                scores: Vec::new(),
                unseen: Vec::new(),
            });
        point.scores.push(f64::from(best));
        point.unseen.push(record.result.unseen_accuracy);
    }
    groups.into_values().collect()
}

fn mean_band(values: &[f64]) -> (f64, f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, lo, hi)
}

/// The sweep's chart: unseen accuracy and the best head score against the number of rules (log
/// scale), each the mean over seeds with their range as a band.
pub fn sweep_chart(points: &[RulePoint], measure: Measure) -> LineChart {
    let line = |name: String, color: &str, pick: &dyn Fn(&RulePoint) -> &[f64]| {
        let stats: Vec<(f64, (f64, f64, f64))> = points
            .iter()
            .map(|p| (p.instructions as f64, mean_band(pick(p))))
            .collect();
        Series {
            name,
            color: color.into(),
            points: stats.iter().map(|&(x, (m, _, _))| (x, m)).collect(),
            markers: true,
            band: if points.iter().any(|p| pick(p).len() > 1) {
                stats.iter().map(|&(x, (_, lo, hi))| (x, lo, hi)).collect()
            } else {
                Vec::new()
            },
        }
    };
    LineChart {
        title: "Best head by rules".into(),
        x_label: "distinct training rules".into(),
        series: vec![
            line("unseen".into(), UNSEEN_LINE, &|p| &p.unseen),
            line(
                format!("best {}", measure_label(measure)),
                PALETTE[0],
                &|p| &p.scores,
            ),
        ],
        y_range: Some((0.0, 1.0)),
        log_x: true,
        x_labels: points
            .iter()
            .map(|p| (p.instructions as f64, p.instructions.to_string()))
            .collect(),
        x_notes: Vec::new(),
    }
}

/// One run of a lesson that looks inside: its number of rules, unseen accuracy and best heads on
/// held-out rules at its end.
#[derive(Clone, Debug, PartialEq)]
pub struct LessonRow {
    /// The run's index in the library.
    pub run: usize,
    /// Distinct training rules.
    pub instructions: usize,
    /// Final unseen accuracy.
    pub unseen: f64,
    /// The best substitution head `(layer, head, score)`.
    pub substitute: Option<(usize, usize, f32)>,
    /// The best copy head.
    pub copy: Option<(usize, usize, f32)>,
}

/// The rows of a lesson's runs (`(library index, record)`), fewest rules first.
pub fn lesson_rows(runs: &[(usize, &RunRecord)]) -> Vec<LessonRow> {
    let mut rows: Vec<LessonRow> = runs
        .iter()
        .map(|&(run, record)| {
            let last = record.inside.last();
            LessonRow {
                run,
                instructions: record.instructions,
                unseen: record.result.unseen_accuracy,
                substitute: last.and_then(|i| i.unseen.best(Measure::Substitute)),
                copy: last.and_then(|i| i.unseen.best(Measure::Copy)),
            }
        })
        .collect();
    rows.sort_by_key(|r| (r.instructions, r.run));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(values: Vec<f32>) -> HeadScores {
        HeadScores {
            layers: 2,
            heads: 2,
            examples: 8,
            scores: [Some(values.clone()), Some(values), None],
        }
    }

    fn inside(step: usize, values: Vec<f32>) -> Inside {
        Inside {
            step,
            seen: scores(vec![0.0; 4]),
            unseen: scores(values),
            embedding: Projection {
                labels: vec!["a".into(), "b".into()],
                points: vec![[1.0, 2.0], [-1.0, -2.0]],
                explained: [0.9, 0.1],
            },
        }
    }

    #[test]
    fn the_chart_draws_the_best_heads_at_the_end_and_the_picked_one() {
        let insides = [
            inside(100, vec![0.9, 0.1, 0.2, 0.3]),
            inside(200, vec![0.1, 0.2, 0.8, 0.3]),
        ];
        let refs: Vec<&Inside> = insides.iter().collect();
        let shown = heads_shown(&refs, ScoreSplit::Unseen, Measure::Copy, None);
        assert_eq!(shown, vec![(1, 0), (1, 1), (0, 1), (0, 0)]);
        let evaluations = [EvalSummary {
            step: 200,
            seen_accuracy: 0.9,
            unseen_accuracy: 0.5,
            unseen_hasop_accuracy: 0.5,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        }];
        let chart = head_chart(
            &refs,
            &evaluations,
            ScoreSplit::Unseen,
            Measure::Copy,
            Some((0, 0)),
        );
        assert_eq!(chart.series.len(), 2 + 4);
        let best = &chart.series[2];
        assert_eq!(best.name, "L2 H1");
        assert_eq!(
            best.points,
            vec![(100.0, f64::from(0.2f32)), (200.0, f64::from(0.8f32))]
        );
        assert!(chart.series.iter().any(|s| s.name == "L1 H1" && s.markers));
        assert_eq!(
            chart.series.iter().filter(|s| s.markers).count(),
            1,
            "only the picked head is marked"
        );
        // No scores of a measure at all: only the picked head, with no points.
        let none = heads_shown(&refs, ScoreSplit::Unseen, Measure::MatchX, Some((1, 1)));
        assert_eq!(none, vec![(1, 1)]);
    }

    #[test]
    fn lesson_rows_name_each_runs_best_heads_fewest_rules_first() {
        let summary = EvalSummary {
            step: 100,
            seen_accuracy: 0.9,
            unseen_accuracy: 0.8,
            unseen_hasop_accuracy: 0.8,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        };
        let mut many = crate::engine::config::ExperimentConfig::default();
        many.task.instructions = 1024;
        let mut many = RunRecord::summary_only(&many, summary);
        many.inside = vec![inside(100, vec![0.1, 0.7, 0.2, 0.3])];
        let mut few = crate::engine::config::ExperimentConfig::default();
        few.task.instructions = 16;
        let few = RunRecord::summary_only(&few, summary);
        let rows = lesson_rows(&[(4, &many), (2, &few)]);
        assert_eq!(
            rows.iter()
                .map(|r| (r.run, r.instructions))
                .collect::<Vec<_>>(),
            [(2, 16), (4, 1024)]
        );
        assert_eq!(rows[0].substitute, None, "a record without scores");
        assert_eq!(rows[1].substitute, Some((0, 1, 0.7)));
        assert_eq!(rows[1].copy, Some((0, 1, 0.7)));
    }

    #[test]
    fn frames_are_flipped_to_agree_with_the_one_before() {
        let a = Projection {
            labels: vec!["a".into(), "b".into()],
            points: vec![[1.0, 2.0], [-1.0, -2.0]],
            explained: [0.9, 0.1],
        };
        let mirrored = Projection {
            points: vec![[-1.1, 2.0], [0.9, -2.1]],
            ..a.clone()
        };
        let frames = aligned_frames(&[&a, &mirrored]);
        assert_eq!(frames[1], vec![[1.1, 2.0], [-0.9, -2.1]]);
        assert_eq!(frames[0], a.points);
    }

    #[test]
    fn sweep_points_group_runs_by_rules_and_skip_records_without_scores() {
        let record = |instructions: usize, best: f32, unseen: f64| {
            let mut config = crate::engine::config::ExperimentConfig::default();
            config.task.instructions = instructions;
            let summary = EvalSummary {
                step: 100,
                seen_accuracy: 0.9,
                unseen_accuracy: unseen,
                unseen_hasop_accuracy: unseen,
                noop_accuracy: 1.0,
                composed_accuracy: None,
            };
            let mut r = RunRecord::summary_only(&config, summary);
            r.inside = vec![inside(100, vec![best, 0.0, 0.0, 0.0])];
            r
        };
        let old = {
            let mut r = record(16, 0.5, 0.1);
            r.inside.clear();
            r
        };
        let runs = [
            record(1024, 0.8, 0.9),
            record(16, 0.2, 0.1),
            record(1024, 0.6, 0.7),
            old,
        ];
        let refs: Vec<&RunRecord> = runs.iter().collect();
        let points = sweep_points(&refs, Measure::Substitute);
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].instructions, points[0].scores.len()), (16, 1));
        assert_eq!(points[1].scores, vec![f64::from(0.8f32), f64::from(0.6f32)]);
        let chart = sweep_chart(&points, Measure::Substitute);
        assert!(chart.log_x);
        assert_eq!(chart.series[1].band.len(), 2);
        assert!((chart.series[0].points[1].1 - 0.8).abs() < 1e-9);
    }
}
