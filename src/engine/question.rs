//! Questions typed by a person ("try your own"), checked against the run's task, and the model's
//! answer with the attention weights behind it.
//!
//! Plain data with no tensor code, so the page's UI thread can build and show it; the engine fills an
//! [`Answer`] (see `eval::answer_question`).

use crate::engine::config::TaskConfig;
use crate::engine::task::{Instruction, Rule};
use serde::{Deserialize, Serialize};

/// An instruction and an input typed by the user, checked against the run's task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The rule, or the program.
    #[serde(alias = "rule")]
    pub instruction: Instruction,
    /// The input `z`.
    pub z: String,
}

/// Why a typed question cannot be put to the model, naming the field: the first field with a
/// problem, and the others' (a person fixes them all at once rather than one per try).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionError {
    /// `x`, `y`, `z`, or `program`.
    pub field: &'static str,
    /// What is wrong, in plain words.
    pub message: String,
    /// The other fields' problems, in the order x, y, z.
    pub others: Vec<(&'static str, String)>,
}

impl std::fmt::Display for QuestionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        for (field, message) in &self.others {
            write!(f, "; {field}: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for QuestionError {}

/// Checks a typed rule `x -> y` and input `z` against the run's alphabet and lengths: the model has
/// one token per letter of its alphabet and fixed-width fields, so nothing else can be asked.
/// Spaces around each field are ignored; letters may be typed in capitals.
pub fn check_question(
    task: &TaskConfig,
    x: &str,
    y: &str,
    z: &str,
) -> Result<Question, QuestionError> {
    let field = |name, text, span| check_field(task, name, text, span);
    // `∅` is how the page writes an empty `y` (a deletion).
    let y = if y.trim() == "∅" { "" } else { y };
    match (
        field("x", x, task.x_len),
        field("y", y, task.y_len),
        field("z", z, task.z_len),
    ) {
        (Ok(x), Ok(y), Ok(z)) => Ok(Question {
            instruction: Rule::new(x, y).into(),
            z,
        }),
        (x, y, z) => {
            let mut problems = [x, y, z].into_iter().filter_map(Result::err);
            let (field, message) = problems.next().expect("one field failed");
            Err(QuestionError {
                field,
                message,
                others: problems.collect(),
            })
        }
    }
}

/// One typed field, trimmed and lowercased: its letters in the alphabet, its length in `span`.
fn check_field(
    task: &TaskConfig,
    name: &'static str,
    text: &str,
    span: crate::engine::config::Span,
) -> Result<String, (&'static str, String)> {
    let last = (b'a' + task.alphabet as u8 - 1) as char;
    let text = text.trim().to_ascii_lowercase();
    if let Some(bad) = text.chars().find(|c| !('a'..=last).contains(c)) {
        // Quoted as the page shows it (the page prints text, not Markdown).
        let bad = match bad {
            ' ' => "a space".to_string(),
            c => format!("“{}”", c.escape_default()),
        };
        return Err((
            name,
            format!("{bad} is not a letter of this run's alphabet (a to {last})"),
        ));
    }
    let len = text.chars().count();
    if !span.contains(len) {
        let range = if span.min == span.max {
            format!("exactly {}", span.min)
        } else {
            format!("{} to {}", span.min, span.max)
        };
        return Err((
            name,
            format!("must have {range} letters in this run, got {len}"),
        ));
    }
    Ok(text)
}

/// Checks a typed program (`x1 -> y1; x2 -> y2`, as [`Instruction::parse`] reads it) and input
/// `z` against the run's task: `k` rules, each side's letters and lengths, and, for a Markov
/// program, that it halts on `z` within the step bound and the longest string.
///
/// # Errors
/// A [`QuestionError`] on `program` (the rules) or `z`, as [`check_question`] gives.
pub fn check_program_question(
    task: &TaskConfig,
    program: &str,
    z: &str,
) -> Result<Question, QuestionError> {
    let fail = |field: &'static str, message: String| QuestionError {
        field,
        message,
        others: Vec::new(),
    };
    let lowered = program.to_ascii_lowercase();
    let instruction = Instruction::parse(&lowered, task.program.semantics, task.program.max_steps)
        .map_err(|m| fail("program", m))?;
    let k = task.program.rules;
    if instruction.rules().len() != k {
        return Err(fail(
            "program",
            format!(
                "this run's programs have {k} rule{}, got {}",
                if k == 1 { "" } else { "s" },
                instruction.rules().len()
            ),
        ));
    }
    for (i, rule) in instruction.rules().iter().enumerate() {
        for (name, text, span) in [("x", &rule.x, task.x_len), ("y", &rule.y, task.y_len)] {
            check_field(task, name, text, span).map_err(|(name, message)| {
                fail("program", format!("rule {}, {name}: {message}", i + 1))
            })?;
        }
    }
    let terminal = task.program.terminal == crate::engine::config::Terminal::Last;
    if instruction.is_terminal(k - 1) != terminal {
        return Err(fail(
            "program",
            if terminal {
                "this run's programs end with a terminal rule: write the last one as x ->. y".into()
            } else {
                "this run's programs have no terminal rule: write the last one as x -> y".into()
            },
        ));
    }
    let z = check_field(task, "z", z, task.z_len).map_err(|(name, m)| fail(name, m))?;
    if let Err(halt) = instruction.run(&z, task.max_string_len()) {
        return Err(fail("program", format!("on this input it {halt}")));
    }
    Ok(Question { instruction, z })
}

/// Checks a question again (one that came in a message, not from the page's form) against the
/// run's task: a rule as [`check_question`] does, a program as [`check_program_question`] does.
///
/// # Errors
/// A [`QuestionError`] naming the field at fault.
pub fn recheck_question(task: &TaskConfig, question: &Question) -> Result<Question, QuestionError> {
    match (&question.instruction, task.program.is_single_rule()) {
        (Instruction::Rule(rule), true) => check_question(task, &rule.x, &rule.y, &question.z),
        (instruction, false) => check_program_question(task, &instruction.to_string(), &question.z),
        (Instruction::Program(_), true) => Err(QuestionError {
            field: "program",
            message: "this run's instructions are single rules, not programs".into(),
            others: Vec::new(),
        }),
    }
}

/// Where a rule stands in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// One of the training rules.
    Training,
    /// One of the held-out rules the run is evaluated on.
    HeldOut,
    /// Neither: a rule the run never met.
    New,
    /// A program the run never met, every rule of which is in a training program.
    Composed,
}

impl RuleOrigin {
    /// In words, for the page: of a rule, or of a program.
    pub fn describe(self, program: bool) -> &'static str {
        match (self, program) {
            (RuleOrigin::Training, false) => "a training rule",
            (RuleOrigin::HeldOut, false) => "a held-out rule (never trained on)",
            (RuleOrigin::New | RuleOrigin::Composed, false) => "a new rule (never trained on)",
            (RuleOrigin::Training, true) => "a training program",
            (RuleOrigin::HeldOut, true) => "a held-out program (of rules never trained on)",
            (RuleOrigin::Composed, true) => {
                "a new pairing of trained rules (the program never trained on)"
            }
            (RuleOrigin::New, true) => "a new program (never trained on)",
        }
    }
}

/// Attention weights of one answer, for the attention view.
///
/// Row `r` is the query that wrote answer token `r` (the last prompt token writes the first answer
/// token); columns are every token of the prompt and the answer written so far. Weights a query
/// cannot see (later tokens) are 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionMap {
    /// Labels of the columns: the prompt, then the answer tokens that were fed back.
    pub columns: Vec<String>,
    /// Tokens of the prompt (the first columns).
    pub prompt_len: usize,
    /// Labels of the rows: the answer tokens written, up to and including the end mark.
    pub rows: Vec<String>,
    /// Transformer blocks.
    pub layers: usize,
    /// Heads per block.
    pub heads: usize,
    /// Weights, `[layers, heads, rows, columns]` row-major.
    pub weights: Vec<f32>,
    /// Where the prompt's fields lie (`None` in maps from before they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<crate::engine::tokenizer::PromptFields>,
    /// Per row, the column of the prompt the correct answer's token there comes from: the input
    /// letter it copies or the `y` letter it substitutes ([`crate::engine::mechanism::sources`]);
    /// `None` for the end mark and past the correct answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Option<usize>>,
}

impl AttentionMap {
    /// Columns of the prompt where the instruction's first rewrite of `z` happens: the leftmost
    /// occurrence of a rule's `x`, the occurrence the first step of a program rewrites (empty when
    /// nothing applies, or when the map has no fields).
    pub fn match_columns(&self, instruction: &Instruction, z: &str) -> std::ops::Range<usize> {
        let first = instruction
            .run(z, usize::MAX)
            .ok()
            .and_then(|run| run.steps.into_iter().next());
        match (&self.fields, first) {
            (Some(fields), Some(step)) => {
                let start = fields.z.start + step.at;
                start..start + instruction.rules()[step.rule].x.len()
            }
            _ => 0..0,
        }
    }

    /// Whether `column` is the source of row `row`'s correct token.
    pub fn is_source(&self, row: usize, column: usize) -> bool {
        self.sources.get(row).copied().flatten() == Some(column)
    }

    /// The weight of answer row `row` on column `column` in one head.
    pub fn weight(&self, layer: usize, head: usize, row: usize, column: usize) -> f32 {
        let (r, c) = (self.rows.len(), self.columns.len());
        self.weights[((layer * self.heads + head) * r + row) * c + column]
    }

    /// The column each row of a head attends to most (ties: the earliest).
    pub fn strongest_columns(&self, layer: usize, head: usize) -> Vec<usize> {
        (0..self.rows.len())
            .map(|row| {
                (0..self.columns.len()).fold(0, |best, column| {
                    if self.weight(layer, head, row, column) > self.weight(layer, head, row, best) {
                        column
                    } else {
                        best
                    }
                })
            })
            .collect()
    }
}

/// The model's answer to a question, with the correct answer and its attention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// What was asked.
    pub question: Question,
    /// The model's greedy answer (unknown tokens as `?`, cut at the end mark).
    pub output: String,
    /// The correct answer: `z` with the leftmost `x` replaced by `y` (a program's final string,
    /// or its trace when the run's answers are traces).
    pub expected: String,
    /// Exact match of the final string, end mark included.
    pub correct: bool,
    /// Whether the rule was trained on, held out, or new.
    pub origin: RuleOrigin,
    /// The evaluation step of the model that answered.
    pub step: usize,
    /// Attention weights of every layer and head.
    pub attention: AttentionMap,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Span;

    fn task() -> TaskConfig {
        TaskConfig {
            alphabet: 4,
            x_len: Span::new(1, 2),
            y_len: Span::new(0, 2),
            z_len: Span::new(4, 6),
            ..TaskConfig::default()
        }
    }

    #[test]
    fn questions_are_checked_against_the_alphabet_and_lengths() {
        let q = check_question(&task(), " AB ", "", "cabd").unwrap();
        assert_eq!(q.instruction, Rule::new("ab", "").into());
        assert_eq!(q.z, "cabd");
        let err = check_question(&task(), "ae", "b", "abcd").unwrap_err();
        assert_eq!(err.field, "x");
        assert!(err.message.contains("a to d"), "{err}");
        let err = check_question(&task(), "abc", "b", "abcd").unwrap_err();
        assert_eq!(err.field, "x");
        assert!(err.message.contains("1 to 2 letters"), "{err}");
        assert_eq!(
            check_question(&task(), "a", "b", "abc").unwrap_err().field,
            "z"
        );
        assert_eq!(
            check_question(&task(), "a", "b<", "abcd")
                .unwrap_err()
                .field,
            "y"
        );
        assert_eq!(
            check_question(&task(), "", "b", "abcd").unwrap_err().field,
            "x"
        );
        // Every field's problem is said at once, the letter quoted as the page shows it.
        let err = check_question(&task(), "ae", "b", "ab cd ef").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x: “e” is not a letter of this run's alphabet (a to d); \
             z: a space is not a letter of this run's alphabet (a to d)"
        );
        let err = check_question(&task(), "abc", "bbb", "abc").unwrap_err();
        let fields: Vec<&str> = std::iter::once(err.field)
            .chain(err.others.iter().map(|(f, _)| *f))
            .collect();
        assert_eq!(fields, ["x", "y", "z"]);
        assert!(!err.to_string().contains('`'), "{err}");
    }

    #[test]
    fn programs_are_checked_rule_by_rule_and_must_halt() {
        let mut task = task();
        task.program.rules = 2;
        let q = check_program_question(&task, "AB -> c; c ->", " abca ").unwrap();
        assert_eq!(q.instruction.to_string(), "ab -> c; c -> ");
        assert_eq!(q.z, "abca");
        let err = |text: &str, z: &str| check_program_question(&task, text, z).unwrap_err();
        let markov = |task: &TaskConfig, text: &str, z: &str| {
            check_program_question(task, text, z).unwrap_err()
        };
        assert!(err("ab -> c", "abca").message.contains("2 rules, got 1"));
        assert!(err("ab -> c; e -> a", "abca").message.contains("rule 2, x"));
        assert!(
            err("ab -> ccc; a -> b", "abca")
                .message
                .contains("rule 1, y")
        );
        assert_eq!(err("ab -> c; c -> a", "abcae").field, "z");
        task.program.semantics = crate::engine::config::ProgramSemantics::Markov;
        task.program.max_steps = 3;
        assert!(
            markov(&task, "ab -> c; c ->. a", "abca")
                .message
                .contains("no terminal")
        );
        task.program.terminal = crate::engine::config::Terminal::Last;
        assert!(
            markov(&task, "ab -> c; c -> a", "abca")
                .message
                .contains("x ->. y")
        );
        assert!(check_program_question(&task, "ab -> c; c ->. ∅", "abca").is_ok());
        task.program.terminal = crate::engine::config::Terminal::None;
        let looping = markov(&task, "a -> b; b -> a", "abca");
        assert_eq!(looping.field, "program");
        assert!(
            looping.message.contains("does not halt within 3"),
            "{looping}"
        );
    }

    #[test]
    fn attention_maps_index_row_major_and_find_the_strongest_column() {
        let map = AttentionMap {
            columns: vec!["^".into(), "a".into(), "=".into()],
            prompt_len: 3,
            rows: vec!["b".into(), "$".into()],
            layers: 1,
            heads: 2,
            // head 0: rows look at columns 1 and 2; head 1: both at column 0.
            weights: vec![0.1, 0.8, 0.1, 0.2, 0.3, 0.5, 1.0, 0.0, 0.0, 0.9, 0.05, 0.05],
            fields: None,
            sources: vec![Some(1), None],
        };
        assert!(map.is_source(0, 1) && !map.is_source(0, 2) && !map.is_source(1, 1));
        let rule: Instruction = Rule::new("a", "b").into();
        assert_eq!(map.match_columns(&rule, "a"), 0..0, "no fields, no marks");
        let fields = crate::engine::tokenizer::PromptFields {
            x: 1..2,
            y: 3..4,
            z: 5..9,
            prompt_len: 10,
            rules: vec![(1..2, 3..4)],
        };
        let map = AttentionMap {
            fields: Some(fields),
            ..map
        };
        assert_eq!(map.match_columns(&rule, "cab"), 6..7);
        let program = Instruction::parse(
            "d -> e; ab -> c",
            crate::engine::config::ProgramSemantics::Sequence,
            4,
        )
        .unwrap();
        assert_eq!(
            map.match_columns(&program, "cabd"),
            8..9,
            "d is rewritten first"
        );
        assert_eq!(map.match_columns(&program, "ff"), 0..0);
        assert_eq!(map.weight(0, 1, 1, 0), 0.9);
        assert_eq!(map.strongest_columns(0, 0), vec![1, 2]);
        assert_eq!(map.strongest_columns(0, 1), vec![0, 0]);
    }
}
