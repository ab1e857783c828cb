//! The inspector with try-your-own: which run is inspected, how its rules are shown, and the answer
//! to the last typed question.

use crate::engine::question::Answer;
use crate::page::inspect::{RuleGroup, RuleSort};

/// How the inspector shows the rules of the inspected run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RuleView {
    /// The rule opened, if any.
    pub rule: Option<(RuleGroup, u32)>,
    /// Sort key of the table; at first by set, which opens on the held-out rules with the most
    /// inputs (see [`sort_rows`](crate::page::inspect::sort_rows)).
    pub sort: RuleSort,
    /// Largest first.
    pub descending: bool,
    /// Only rules (and cases) the model gets wrong.
    pub failures_only: bool,
}

/// The inspector's state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspector {
    /// The finished run opened from the sweep views or the runs list (an index into the library's
    /// runs); `None` inspects the run in progress or the last one.
    pub opened: Option<usize>,
    /// How the rules are shown.
    pub rules: RuleView,
    /// The answer to the last typed question, or why there is none.
    pub answer: Option<Result<Answer, String>>,
    /// A question is with the worker.
    pub asking: bool,
}

/// A change to the inspector alone.
#[derive(Clone, Debug, PartialEq)]
pub enum InspectorAction {
    /// Open a rule, or close it.
    InspectRule(Option<(RuleGroup, u32)>),
    /// Sort the rules; the same key again flips the order.
    SortRules(RuleSort),
    /// Show only failures.
    FailuresOnly(bool),
}

impl Inspector {
    /// Applies a change to the inspector alone.
    pub fn reduce(&mut self, action: InspectorAction) {
        match action {
            InspectorAction::InspectRule(rule) => self.rules.rule = rule,
            InspectorAction::SortRules(key) => {
                if self.rules.sort == key {
                    self.rules.descending = !self.rules.descending;
                } else {
                    self.rules.sort = key;
                    self.rules.descending = false;
                }
            }
            InspectorAction::FailuresOnly(on) => self.rules.failures_only = on,
        }
    }

    /// Opens a finished run (or, with `None`, the live one): its rules start closed, with no answer.
    pub fn open(&mut self, run: Option<usize>) {
        self.opened = run;
        self.rules.rule = None;
        self.answer = None;
    }

    /// A run is starting: the inspector follows it.
    pub fn follow_new_run(&mut self) {
        self.open(None);
        self.asking = false;
    }

    /// Moves the opened run's index after `shift` runs were put before it in the library.
    pub fn shift(&mut self, shift: usize) {
        self.opened = self.opened.map(|i| i + shift);
    }

    /// The worker answered (or refused) a question.
    pub fn answered(&mut self, answer: Result<Answer, String>) {
        self.asking = false;
        self.answer = Some(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inspector_opens_sorted_by_set_held_out_first_and_a_click_on_set_flips_it() {
        let mut inspector = Inspector::default();
        assert_eq!(
            (inspector.rules.sort, inspector.rules.descending),
            (RuleSort::Group, false)
        );
        inspector.reduce(InspectorAction::SortRules(RuleSort::Group));
        assert!(inspector.rules.descending, "training rules first");
    }

    #[test]
    fn the_same_sort_key_flips_the_order_and_another_starts_ascending() {
        let mut inspector = Inspector::default();
        inspector.reduce(InspectorAction::SortRules(RuleSort::Rule));
        assert_eq!(
            (inspector.rules.sort, inspector.rules.descending),
            (RuleSort::Rule, false)
        );
        inspector.reduce(InspectorAction::SortRules(RuleSort::Rule));
        assert!(inspector.rules.descending);
        inspector.reduce(InspectorAction::SortRules(RuleSort::Cases));
        assert_eq!(
            (inspector.rules.sort, inspector.rules.descending),
            (RuleSort::Cases, false)
        );
    }
}
