//! The "Inside the model" view: which measure and split its chart shows, the head picked, the
//! embedding frame on show, and the ablation asked of the worker with its answer.

use crate::engine::mechanism::{Ablation, Measure};
use crate::page::inside::ScoreSplit;
use crate::study::mechanism::Ablated;

/// The view's state.
#[derive(Clone, Debug, PartialEq)]
pub struct InsideView {
    /// What the head scores measure.
    pub measure: Measure,
    /// Seen or held-out rules.
    pub split: ScoreSplit,
    /// The head picked (clicked in the heads grid): its line is marked, and it is what an
    /// ablation silences.
    pub head: Option<(usize, usize)>,
    /// The evaluation whose embedding is shown (an index into the run's evaluations); `None`
    /// follows the latest.
    pub frame: Option<usize>,
    /// The ablation with the worker, if one is.
    pub ablating: Option<Ablation>,
    /// The last ablation's result, or why there is none.
    pub ablation: Option<Result<Ablated, String>>,
    /// The run the ablation with the worker is of (an index into the library's runs; `None`:
    /// the run in progress or the last one).
    pub ablating_run: Option<usize>,
    /// Each run's last ablation, newest last, at most [`KEPT_ABLATIONS`]: a lesson's reveal
    /// shows its runs' side by side.
    pub done: Vec<(Option<usize>, Ablated)>,
    /// The embedding's animation: the generation of the playback running, if one is. Each
    /// Play, stop or slider move starts a new generation, so a timer of an older playback
    /// changes nothing.
    pub playing: Option<u64>,
    /// The last generation given.
    pub generation: u64,
}

/// Ablations kept for side-by-side views.
pub const KEPT_ABLATIONS: usize = 16;

impl Default for InsideView {
    fn default() -> Self {
        Self {
            measure: Measure::Substitute,
            split: ScoreSplit::Unseen,
            head: None,
            frame: None,
            ablating: None,
            ablation: None,
            ablating_run: None,
            done: Vec::new(),
            playing: None,
            generation: 0,
        }
    }
}

/// A change to the view alone.
#[derive(Clone, Debug, PartialEq)]
pub enum InsideAction {
    /// Show another measure.
    Measure(Measure),
    /// Show seen or held-out rules.
    Split(ScoreSplit),
    /// Pick a head, or none.
    Head(Option<(usize, usize)>),
    /// Show the embedding at this evaluation (`None`: the latest); stops the animation.
    Frame(Option<usize>),
    /// Play the embedding's frames from the first, as generation `generation + 1`.
    Play,
    /// Stop the animation where it is.
    Stop,
    /// A frame of playback `generation` (`None`: it ended, on the latest).
    Tick(u64, Option<usize>),
}

impl InsideView {
    /// Applies a change to the view alone.
    pub fn reduce(&mut self, action: InsideAction) {
        match action {
            InsideAction::Measure(measure) => self.measure = measure,
            InsideAction::Split(split) => self.split = split,
            InsideAction::Head(head) => {
                // Another head's ablation is not this one's.
                if head != self.head {
                    self.ablation = None;
                }
                self.head = head;
            }
            InsideAction::Frame(frame) => {
                self.stop();
                self.frame = frame;
            }
            InsideAction::Play => {
                self.generation += 1;
                self.playing = Some(self.generation);
                self.frame = Some(0);
            }
            InsideAction::Stop => self.stop(),
            InsideAction::Tick(generation, frame) => {
                if self.playing == Some(generation) {
                    self.frame = frame;
                    if frame.is_none() {
                        self.playing = None;
                    }
                }
            }
        }
    }

    fn stop(&mut self) {
        self.generation += 1;
        self.playing = None;
    }

    /// Another run is inspected: its heads are not this one's (the ablations kept per run stay,
    /// and one with the worker still lands in its run's).
    pub fn open(&mut self) {
        self.head = None;
        self.frame = None;
        self.ablation = None;
    }

    /// An ablation of `run`'s model goes to the worker.
    pub fn asked(&mut self, ablation: Ablation, run: Option<usize>) {
        self.ablating = Some(ablation);
        self.ablating_run = run;
        self.ablation = None;
    }

    /// The last ablation of `run`, if one was kept.
    pub fn of_run(&self, run: Option<usize>) -> Option<&Ablated> {
        self.done
            .iter()
            .rev()
            .find(|(r, _)| *r == run)
            .map(|(_, a)| a)
    }

    /// Runs were put before the others in the library: the kept ablations follow their runs.
    pub fn shift(&mut self, shift: usize) {
        for (run, _) in &mut self.done {
            *run = run.map(|i| i + shift);
        }
        self.ablating_run = self.ablating_run.map(|i| i + shift);
    }

    /// The worker measured (or refused) an ablation. A reply for an ablation no longer awaited
    /// (another run opened meanwhile) is dropped.
    pub fn answered(&mut self, ablated: Result<Ablated, String>) {
        let Some(asked) = self.ablating.take() else {
            return;
        };
        if let Ok(result) = &ablated
            && result.heads != asked.to_string()
        {
            self.ablating = Some(asked);
            return;
        }
        if let Ok(result) = &ablated {
            let run = self.ablating_run;
            self.done.retain(|(r, _)| *r != run);
            self.done.push((run, result.clone()));
            if self.done.len() > KEPT_ABLATIONS {
                self.done.remove(0);
            }
        }
        self.ablation = Some(ablated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mechanism::HeadScores;
    use crate::engine::metrics::EvalSummary;

    fn ablated(heads: &str) -> Ablated {
        let summary = EvalSummary {
            step: 10,
            seen_accuracy: 0.5,
            unseen_accuracy: 0.4,
            unseen_hasop_accuracy: 0.4,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        };
        Ablated {
            instructions: 16,
            seed: 1,
            step: 10,
            heads: heads.into(),
            whole: summary,
            ablated: summary,
            scores: HeadScores {
                layers: 1,
                heads: 1,
                examples: 0,
                scores: [None, None, None],
            },
        }
    }

    #[test]
    fn an_answer_is_kept_only_for_the_ablation_awaited() {
        let mut view = InsideView::default();
        view.answered(Ok(ablated("0.1")));
        assert_eq!(view.ablation, None, "nothing was asked");
        view.asked(
            Ablation {
                heads: vec![(1, 0)],
            },
            None,
        );
        view.answered(Ok(ablated("0.1")));
        assert_eq!(view.ablation, None, "a reply to another ablation");
        assert!(view.ablating.is_some());
        view.answered(Ok(ablated("1.0")));
        assert_eq!(view.ablation, Some(Ok(ablated("1.0"))));
        assert_eq!(view.ablating, None);
        view.asked(
            Ablation {
                heads: vec![(0, 0)],
            },
            None,
        );
        view.answered(Err("no model".into()));
        assert_eq!(view.ablation, Some(Err("no model".into())));
        assert_eq!(
            view.of_run(None),
            Some(&ablated("1.0")),
            "a refusal keeps the last result"
        );
    }

    #[test]
    fn the_animation_stops_on_a_slider_move_or_stop_and_old_timers_change_nothing() {
        let mut view = InsideView::default();
        view.reduce(InsideAction::Play);
        let first = view.playing.expect("playing");
        assert_eq!(view.frame, Some(0));
        view.reduce(InsideAction::Tick(first, Some(1)));
        assert_eq!(view.frame, Some(1));
        // The reader moves the slider: the animation stops, its timers change nothing.
        view.reduce(InsideAction::Frame(Some(4)));
        assert_eq!(view.playing, None);
        view.reduce(InsideAction::Tick(first, Some(2)));
        assert_eq!(view.frame, Some(4));
        // Played again, then stopped; a new playback ends on the latest frame.
        view.reduce(InsideAction::Play);
        let second = view.playing.unwrap();
        assert_ne!(first, second);
        view.reduce(InsideAction::Stop);
        view.reduce(InsideAction::Tick(second, Some(3)));
        assert_eq!((view.playing, view.frame), (None, Some(0)));
        view.reduce(InsideAction::Play);
        let third = view.playing.unwrap();
        view.reduce(InsideAction::Tick(third, None));
        assert_eq!((view.playing, view.frame), (None, None));
    }

    #[test]
    fn picking_another_head_or_run_forgets_the_ablation() {
        let mut view = InsideView::default();
        view.reduce(InsideAction::Head(Some((1, 0))));
        view.asked(
            Ablation {
                heads: vec![(1, 0)],
            },
            Some(2),
        );
        view.answered(Ok(ablated("1.0")));
        view.reduce(InsideAction::Head(Some((1, 0))));
        assert!(view.ablation.is_some(), "the same head keeps it");
        view.reduce(InsideAction::Head(Some((0, 1))));
        assert_eq!(view.ablation, None);
        view.reduce(InsideAction::Frame(Some(3)));
        view.open();
        assert_eq!((view.head, view.frame), (None, None));
        // Each run keeps its last ablation, side by side, and follows its run in the library.
        view.asked(
            Ablation {
                heads: vec![(0, 1)],
            },
            Some(5),
        );
        view.answered(Ok(ablated("0.1")));
        assert_eq!(view.of_run(Some(2)).map(|a| a.heads.as_str()), Some("1.0"));
        assert_eq!(view.of_run(Some(5)).map(|a| a.heads.as_str()), Some("0.1"));
        view.shift(3);
        assert_eq!(view.of_run(Some(5)).map(|a| a.heads.as_str()), Some("1.0"));
        assert_eq!(view.of_run(Some(8)).map(|a| a.heads.as_str()), Some("0.1"));
        assert_eq!(view.of_run(None), None);
    }
}
