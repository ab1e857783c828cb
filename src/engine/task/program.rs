//! Instructions: a single rewrite rule (the papers' task), or a program of rules.
//!
//! A program is an ordered list of rules `x1 -> y1; x2 -> y2; ...` with one of two semantics
//! ([`ProgramSemantics`]):
//! - `sequence`: each rule once, in order, at its leftmost occurrence; a rule whose `x` is absent
//!   does nothing. `ab -> c; c -> d` on `abab` gives `cab` then `dab`.
//! - `markov`: a Markov algorithm (A. A. Markov, *Theory of algorithms*, 1954): take the first rule
//!   whose `x` occurs, rewrite its leftmost occurrence, and start again from the first rule, until
//!   no rule applies or a terminal rule (`x ->. y`) fires. `ab -> c; c -> d` on `abab` gives `cab`,
//!   `cc` (`ab` still occurs, and the first rule comes first), `dc`, then `dd`. A Markov program
//!   may not halt (`a -> aa`), so it runs under a step bound and a length bound, and
//!   [`Instruction::run`] says which one it broke.
//!
//! A program of one rule in `sequence` is stored as a plain [`Rule`] ([`Instruction::Rule`]), so
//! its data, encoding and JSON are exactly those of the papers' task.

use crate::engine::config::ProgramSemantics;
use crate::engine::task::rule::{Rule, leftmost_occurrence};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A program of rules and how they are applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// The rules, in order (priority order for `markov`).
    pub rules: Vec<Rule>,
    /// How they are applied.
    pub semantics: ProgramSemantics,
    /// Whether the last rule is terminal (`markov` only).
    #[serde(default)]
    pub terminal: bool,
    /// Most rewrites a `markov` program may take (ignored by `sequence`).
    #[serde(default)]
    pub max_steps: usize,
}

/// What a model is told to do: one rule, or a program of rules.
///
/// Serialized untagged: a rule is `{"x": .., "y": ..}` as it always was, a program
/// `{"rules": [..], "semantics": .., ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Instruction {
    /// One rule applied once at the leftmost occurrence of its pattern.
    Rule(Rule),
    /// Several rules.
    Program(Program),
}

impl From<Rule> for Instruction {
    fn from(rule: Rule) -> Self {
        Instruction::Rule(rule)
    }
}

/// One rewrite of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Index of the rule that fired, in the instruction's rules.
    pub rule: usize,
    /// Byte offset of the occurrence it rewrote, in the string before the step.
    pub at: usize,
    /// The string after the step.
    pub after: String,
}

/// An instruction applied to an input: every rewrite, and the final string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The rewrites, in order. With `sequence`, a rule whose pattern is absent makes no step.
    pub steps: Vec<Step>,
    /// The answer.
    pub output: String,
}

/// Why a run has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Halt {
    /// A Markov program still had a rule to apply after its step bound.
    #[error("does not halt within {0} steps")]
    StepBound(usize),
    /// A string grew past the longest the task allows.
    #[error("writes a string longer than {0} letters")]
    TooLong(usize),
}

impl Run {
    /// The strings a step-by-step answer writes: one per rule in a `sequence` (the string after
    /// each rule, unchanged when the rule does not apply), one per rewrite in `markov` (and the
    /// input alone when nothing applies). The last is always the answer.
    pub fn trace(&self, instruction: &Instruction, input: &str) -> Vec<String> {
        match instruction {
            Instruction::Rule(_) => vec![self.output.clone()],
            Instruction::Program(p) => match p.semantics {
                ProgramSemantics::Sequence => {
                    let mut current = input.to_string();
                    (0..p.rules.len())
                        .map(|i| {
                            if let Some(step) = self.steps.iter().find(|s| s.rule == i) {
                                current = step.after.clone();
                            }
                            current.clone()
                        })
                        .collect()
                }
                ProgramSemantics::Markov if self.steps.is_empty() => vec![self.output.clone()],
                ProgramSemantics::Markov => self.steps.iter().map(|s| s.after.clone()).collect(),
            },
        }
    }
}

impl Instruction {
    /// A program of `rules` with these semantics; one rule in `sequence` is a plain rule.
    pub fn program(
        rules: Vec<Rule>,
        semantics: ProgramSemantics,
        terminal: bool,
        max_steps: usize,
    ) -> Self {
        if rules.len() == 1 && semantics == ProgramSemantics::Sequence {
            return Instruction::Rule(rules.into_iter().next().expect("one rule"));
        }
        Instruction::Program(Program {
            rules,
            semantics,
            terminal: terminal && semantics == ProgramSemantics::Markov,
            max_steps,
        })
    }

    /// Its rules, in order.
    pub fn rules(&self) -> &[Rule] {
        match self {
            Instruction::Rule(rule) => std::slice::from_ref(rule),
            Instruction::Program(p) => &p.rules,
        }
    }

    /// The rule, when the instruction is a single rule.
    pub fn as_rule(&self) -> Option<&Rule> {
        match self {
            Instruction::Rule(rule) => Some(rule),
            Instruction::Program(_) => None,
        }
    }

    /// The answer on `z`, with no bound on its length; `None` when a Markov program does not halt
    /// within its step bound.
    pub fn apply(&self, z: &str) -> Option<String> {
        self.run(z, usize::MAX).ok().map(|run| run.output)
    }

    /// Whether rule `index` is terminal.
    pub fn is_terminal(&self, index: usize) -> bool {
        matches!(self, Instruction::Program(p) if p.terminal && index + 1 == p.rules.len())
    }

    /// Applies the instruction to `z`, no string longer than `max_len` letters.
    ///
    /// # Errors
    /// [`Halt::StepBound`] when a Markov program would rewrite more than its bound allows;
    /// [`Halt::TooLong`] when a string would outgrow `max_len`.
    pub fn run(&self, z: &str, max_len: usize) -> Result<Run, Halt> {
        let mut current = z.to_string();
        let mut steps = Vec::new();
        let mut rewrite = |index: usize, rule: &Rule, current: &mut String| -> Result<bool, Halt> {
            let Some(at) = leftmost_occurrence(&rule.x, current) else {
                return Ok(false);
            };
            let after = format!(
                "{}{}{}",
                &current[..at],
                rule.y,
                &current[at + rule.x.len()..]
            );
            if after.len() > max_len {
                return Err(Halt::TooLong(max_len));
            }
            *current = after.clone();
            steps.push(Step {
                rule: index,
                at,
                after,
            });
            Ok(true)
        };
        match self {
            Instruction::Rule(rule) => {
                rewrite(0, rule, &mut current)?;
            }
            Instruction::Program(p) => match p.semantics {
                ProgramSemantics::Sequence => {
                    for (index, rule) in p.rules.iter().enumerate() {
                        rewrite(index, rule, &mut current)?;
                    }
                }
                ProgramSemantics::Markov => {
                    let mut taken = 0;
                    'run: loop {
                        for (index, rule) in p.rules.iter().enumerate() {
                            if leftmost_occurrence(&rule.x, &current).is_some() {
                                if taken == p.max_steps {
                                    return Err(Halt::StepBound(p.max_steps));
                                }
                                rewrite(index, rule, &mut current)?;
                                taken += 1;
                                if self.is_terminal(index) {
                                    break 'run;
                                }
                                continue 'run;
                            }
                        }
                        break;
                    }
                }
            },
        }
        Ok(Run {
            steps,
            output: current,
        })
    }

    /// Whether no rule's pattern occurs in `z`, so the answer is `z` itself.
    pub fn is_noop_on(&self, z: &str) -> bool {
        self.rules()
            .iter()
            .all(|r| leftmost_occurrence(&r.x, z).is_none())
    }

    /// Reads an instruction as [`fmt::Display`] writes it: rules `x -> y` separated by `;`, a
    /// terminal one written `x ->. y`; the semantics and step bound come from the task. Letters
    /// are lowercase ASCII; an empty `y` (or `∅`) is a deletion.
    ///
    /// # Errors
    /// A message naming the first rule that cannot be read.
    pub fn parse(
        text: &str,
        semantics: ProgramSemantics,
        max_steps: usize,
    ) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut terminal = false;
        let parts: Vec<&str> = text.split(';').collect();
        for (i, part) in parts.iter().enumerate() {
            let (x, y, is_terminal) = if let Some((x, y)) = part.split_once("->.") {
                (x, y, true)
            } else if let Some((x, y)) = part.split_once("->") {
                (x, y, false)
            } else {
                return Err(format!("rule {} `{}` has no `->`", i + 1, part.trim()));
            };
            // `∅` is how the page writes an empty replacement (a deletion).
            let (x, y) = (x.trim(), y.trim().trim_start_matches('∅'));
            if x.is_empty() {
                return Err(format!("rule {} has an empty pattern", i + 1));
            }
            if let Some(bad) = x.chars().chain(y.chars()).find(|c| !c.is_ascii_lowercase()) {
                return Err(format!("rule {} holds `{bad}`: use letters a-z", i + 1));
            }
            if is_terminal && (i + 1 != parts.len() || semantics != ProgramSemantics::Markov) {
                return Err(format!(
                    "rule {} is terminal (`->.`): only the last rule of a Markov program can be",
                    i + 1
                ));
            }
            terminal |= is_terminal;
            rules.push(Rule::new(x, y));
        }
        Ok(Self::program(rules, semantics, terminal, max_steps))
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules().iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            let arrow = if self.is_terminal(i) { "->." } else { "->" };
            write!(f, "{} {arrow} {}", rule.x, rule.y)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markov(text: &str, max_steps: usize) -> Instruction {
        Instruction::parse(text, ProgramSemantics::Markov, max_steps).unwrap()
    }

    #[test]
    fn one_rule_in_sequence_is_a_plain_rule() {
        let one = Instruction::parse("ab -> c", ProgramSemantics::Sequence, 4).unwrap();
        assert_eq!(one, Instruction::Rule(Rule::new("ab", "c")));
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            serde_json::to_string(&Rule::new("ab", "c")).unwrap()
        );
        assert_eq!(one.run("xabab", 10).unwrap().output, "xcab");
    }

    #[test]
    fn sequence_applies_each_rule_once_in_order() {
        let p =
            Instruction::parse("ab -> c; c -> d; e -> f", ProgramSemantics::Sequence, 4).unwrap();
        let run = p.run("abab", 10).unwrap();
        assert_eq!(run.output, "dab");
        assert_eq!(run.steps.len(), 2, "e is absent: no step");
        assert_eq!(run.trace(&p, "abab"), ["cab", "dab", "dab"]);
    }

    #[test]
    fn markov_restarts_from_the_first_rule() {
        let p = markov("ab -> c; c -> d", 10);
        let run = p.run("abab", 10).unwrap();
        assert_eq!(run.output, "dd");
        let after: Vec<&str> = run.steps.iter().map(|s| s.after.as_str()).collect();
        assert_eq!(after, ["cab", "cc", "dc", "dd"]);
        assert_eq!(run.trace(&p, "abab"), ["cab", "cc", "dc", "dd"]);
        assert_eq!(run.steps[1].rule, 0);
        assert_eq!(run.steps[2].rule, 1);
        assert_eq!(p.run("xyz", 10).unwrap().trace(&p, "xyz"), ["xyz"]);
    }

    #[test]
    fn a_terminal_rule_halts_and_bounds_are_reported() {
        let p = markov("b -> a; a ->. c", 10);
        assert_eq!(p.to_string(), "b -> a; a ->. c");
        assert_eq!(
            p.run("bb", 10).unwrap().output,
            "ca",
            "ab, aa, then a ->. c halts"
        );
        assert_eq!(markov("a -> aa", 3).run("a", 100), Err(Halt::StepBound(3)));
        assert_eq!(markov("a -> aa", 100).run("a", 5), Err(Halt::TooLong(5)));
    }

    #[test]
    fn parse_names_the_bad_rule() {
        let err = |t: &str| Instruction::parse(t, ProgramSemantics::Sequence, 4).unwrap_err();
        assert!(err("ab -> c; bc").contains("rule 2"));
        assert!(err(" -> c").contains("empty pattern"));
        assert!(err("aB -> c").contains("`B`"));
        assert!(err("a ->. c").contains("terminal"));
        assert_eq!(
            Instruction::parse("ab ->", ProgramSemantics::Sequence, 4).unwrap(),
            Instruction::Rule(Rule::new("ab", ""))
        );
        assert_eq!(
            Instruction::parse("ab -> ∅", ProgramSemantics::Sequence, 4).unwrap(),
            Instruction::Rule(Rule::new("ab", ""))
        );
    }

    #[test]
    fn programs_round_trip_through_json_and_text() {
        let p = markov("ab -> ; b ->. ca", 5);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Instruction>(&json).unwrap(), p);
        assert_eq!(markov(&p.to_string(), 5), p);
    }
}
