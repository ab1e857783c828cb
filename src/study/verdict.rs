//! What a run learned, in words: the page labels every run (its status, the sweep curve's points,
//! the phase diagram's cells) the way the PAIR explorable on memorization and generalization colours
//! its runs. The thresholds are here and nowhere else.

/// Accuracy at and above which a run counts as doing a kind of case well.
pub const HIGH_ACCURACY: f64 = 0.5;

/// What a run learned, from its seen-rule and unseen-rule accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Neither seen nor unseen rules are done well yet.
    NotLearnedYet,
    /// Seen rules well, unseen rules not: it learned its rules, not what a rule is.
    Memorized,
    /// Unseen rules well: it follows instructions it never saw.
    Generalized,
}

impl Verdict {
    /// The verdict of a run with these accuracies (each in `[0, 1]`).
    pub fn of(seen: f64, unseen: f64) -> Self {
        if unseen >= HIGH_ACCURACY {
            Verdict::Generalized
        } else if seen >= HIGH_ACCURACY {
            Verdict::Memorized
        } else {
            Verdict::NotLearnedYet
        }
    }

    /// The label the page shows.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::NotLearnedYet => "not learned yet",
            Verdict::Memorized => "memorized",
            Verdict::Generalized => "generalized",
        }
    }

    /// A name for styles and element classes.
    pub fn class(self) -> &'static str {
        match self {
            Verdict::NotLearnedYet => "not-learned",
            Verdict::Memorized => "memorized",
            Verdict::Generalized => "generalized",
        }
    }

    /// One sentence on what it means.
    pub fn explain(self) -> &'static str {
        match self {
            Verdict::NotLearnedYet => {
                "neither the rules it trained on nor new rules are followed yet"
            }
            Verdict::Memorized => "it follows the rules it trained on, not new ones",
            Verdict::Generalized => "it follows rules it has never seen",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thresholds_split_the_square_in_three() {
        assert_eq!(Verdict::of(0.9, 0.1), Verdict::Memorized);
        assert_eq!(Verdict::of(0.8, 0.85), Verdict::Generalized);
        assert_eq!(Verdict::of(0.2, 0.1), Verdict::NotLearnedYet);
        assert_eq!(Verdict::of(HIGH_ACCURACY, 0.0), Verdict::Memorized);
        assert_eq!(Verdict::of(0.0, HIGH_ACCURACY), Verdict::Generalized);
    }
}
