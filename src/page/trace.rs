//! A worked example's steps, for the page to show: each rewrite of an instruction on its input,
//! the rule that fired, and where in the string before it the rewritten occurrence lies.

use crate::engine::task::{Instruction, Run};

/// One rewrite, split for marking: `before` is `head + matched + tail`; `after` the string it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// 0-based index of the rule that fired.
    pub rule: usize,
    /// The rule, as written in the program (`ab -> c`, `ab ->. c` when terminal).
    pub rule_text: String,
    /// The string before the step, up to the occurrence.
    pub head: String,
    /// The occurrence of the rule's `x` that was rewritten.
    pub matched: String,
    /// The rest of the string before the step.
    pub tail: String,
    /// The string after the step.
    pub after: String,
}

/// The rows of a run of `instruction` on `z`, one per rewrite, in order.
pub fn trace_rows(instruction: &Instruction, z: &str, run: &Run) -> Vec<TraceRow> {
    let mut before = z.to_string();
    run.steps
        .iter()
        .map(|step| {
            let rule = &instruction.rules()[step.rule];
            let end = step.at + rule.x.len();
            let arrow = if instruction.is_terminal(step.rule) {
                "->."
            } else {
                "->"
            };
            let row = TraceRow {
                rule: step.rule,
                rule_text: format!("{} {arrow} {}", rule.x, rule.y),
                head: before[..step.at].to_string(),
                matched: before[step.at..end].to_string(),
                tail: before[end..].to_string(),
                after: step.after.clone(),
            };
            before = step.after.clone();
            row
        })
        .collect()
}

/// The sentence that says what an instruction of the task is.
pub fn task_sentence(program: &crate::engine::config::ProgramConfig) -> String {
    use crate::engine::config::{AnswerFormat, ProgramSemantics, Terminal};
    if program.is_single_rule() {
        return "An instruction is a rule x → y: write the input with the leftmost x replaced by y (the input unchanged when x is absent; y = ∅ deletes x).".into();
    }
    let how = match program.semantics {
        ProgramSemantics::Sequence => format!(
            "a program of {} rules applied once each, in order, each at the leftmost occurrence of its x (a rule whose x is absent does nothing)",
            program.rules
        ),
        ProgramSemantics::Markov => format!(
            "a Markov algorithm of {} rule{}: again and again, the first rule whose x occurs rewrites its leftmost occurrence, until none applies{} (at most {} steps)",
            program.rules,
            if program.rules == 1 { "" } else { "s" },
            if program.terminal == Terminal::Last {
                " or the last rule (→.) fires"
            } else {
                ""
            },
            program.max_steps
        ),
    };
    let answer = match program.answer {
        AnswerFormat::Direct => "The model writes the final string.",
        AnswerFormat::Trace => {
            "The model writes each intermediate string, then the final one; only the final one is scored."
        }
    };
    format!("An instruction is {how}. {answer}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{ProgramConfig, ProgramSemantics};

    #[test]
    fn each_row_marks_the_occurrence_its_rule_rewrote() {
        let program = Instruction::parse("ab -> c; c ->. d", ProgramSemantics::Markov, 5).unwrap();
        let run = program.run("xabab", 20).unwrap();
        let rows = trace_rows(&program, "xabab", &run);
        let shown: Vec<String> = rows
            .iter()
            .map(|r| format!("{}:{}[{}]{}={}", r.rule, r.head, r.matched, r.tail, r.after))
            .collect();
        assert_eq!(shown, ["0:x[ab]ab=xcab", "0:xc[ab]=xcc", "1:x[c]c=xdc"]);
        assert_eq!(rows[2].rule_text, "c ->. d");
    }

    #[test]
    fn the_task_sentence_names_the_semantics() {
        assert!(task_sentence(&ProgramConfig::default()).starts_with("An instruction is a rule"));
        let markov = ProgramConfig {
            rules: 2,
            semantics: ProgramSemantics::Markov,
            ..ProgramConfig::default()
        };
        assert!(task_sentence(&markov).contains("Markov algorithm of 2 rules"));
    }
}
