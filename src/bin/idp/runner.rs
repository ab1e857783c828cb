//! Training one run, or one stack of runs, to its end with a progress bar: checkpointed every few
//! minutes (and when asked to stop), resumed from its checkpoint when one of the same settings exists.

use crate::CliError;
use crate::backend::Selected;
use crate::files::write_atomically;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use instruction_diversity::engine::checkpoint::Checkpoint;
use instruction_diversity::engine::config::ValidConfig;
use instruction_diversity::engine::run::Run;
use instruction_diversity::engine::stack::{Stack, StackCheckpoint};
use instruction_diversity::study::record::RunRecord;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Prints above the progress bars, or plainly when they are hidden (output is not a terminal).
pub fn say(bars: &MultiProgress, line: &str) {
    if bars.is_hidden() {
        println!("{line}");
    } else {
        bars.println(line).ok();
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>22} [{bar:30}] {pos:>5}/{len} steps {per_sec:>10} eta {eta:>4}  {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

/// Where and how often a run is checkpointed.
pub struct Checkpointing<'a> {
    /// The checkpoint file (written atomically).
    pub path: &'a Path,
    /// Time between checkpoints.
    pub every: Duration,
}

/// How a run ended.
pub enum Outcome {
    /// Every step taken; the record of the run.
    Finished(Box<RunRecord>),
    /// Asked to stop (Ctrl-C, the scheduler's SIGTERM); checkpointed at this step when a
    /// checkpoint file was given.
    Stopped { step: usize },
}

/// What the run may say: `verbose` prints each evaluation.
pub struct Display<'a> {
    pub label: &'a str,
    pub bars: &'a MultiProgress,
    pub verbose: bool,
}

fn save(run: &Run, checkpointing: &Checkpointing) -> Result<(), CliError> {
    let checkpoint = pollster::block_on(run.checkpoint())
        .map_err(|e| CliError::Other(format!("checkpointing failed: {e}")))?;
    write_atomically(checkpointing.path, &checkpoint.to_bytes()).map_err(CliError::Other)
}

/// The run of `config`: resumed from the checkpoint file when it holds a run of these settings,
/// else new.
fn start(
    config: &ValidConfig,
    selected: &Selected,
    checkpointing: Option<&Checkpointing>,
    display: &Display,
) -> Result<Run, CliError> {
    // Refused before anything is allocated when it cannot fit.
    instruction_diversity::engine::memory::check(config, &selected.limits)
        .map_err(instruction_diversity::engine::run::RunError::from)?;
    let device = &selected.device;
    if let Some(c) = checkpointing
        && let Some(saved) = saved_for(
            c.path,
            display,
            "another run's checkpoint",
            Checkpoint::from_bytes,
            |saved| (saved.meta.config == *config).then_some(saved.meta.step),
        )
    {
        return Ok(Run::resume(saved, device)?);
    }
    Ok(Run::new(config, device)?)
}

/// The checkpoint at `path` when it holds the runs about to train (`step_if_theirs` gives its step
/// then), said as such; else `None`, saying why they start afresh: the file holds `others`, or
/// cannot be used. One reader for the checkpoints of a run and of a stack.
fn saved_for<T, E: std::fmt::Display>(
    path: &Path,
    display: &Display,
    others: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
    step_if_theirs: impl FnOnce(&T) -> Option<usize>,
) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    let why = match parse(&bytes) {
        Ok(saved) => match step_if_theirs(&saved) {
            Some(step) => {
                say(
                    display.bars,
                    &format!(
                        "{}: goes on from its checkpoint at step {step}",
                        display.label
                    ),
                );
                return Some(saved);
            }
            None => format!("holds {others}"),
        },
        Err(e) => format!("cannot be used ({e})"),
    };
    say(
        display.bars,
        &format!(
            "{}: {} {why}; starting afresh",
            display.label,
            path.display()
        ),
    );
    None
}

/// Trains `config` to the end, or until `stop` is set.
pub fn train(
    config: &ValidConfig,
    selected: &Selected,
    display: &Display,
    checkpointing: Option<&Checkpointing>,
    stop: &AtomicBool,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let mut run = start(config, selected, checkpointing, display)?;
    let bar = display
        .bars
        .add(ProgressBar::new(config.train.steps as u64));
    bar.set_style(bar_style());
    bar.set_prefix(display.label.to_string());
    bar.set_position(run.step() as u64);
    let mut last_checkpoint = Instant::now();
    let mut last = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            bar.finish_and_clear();
            if let Some(c) = checkpointing {
                save(&run, c)?;
            }
            return Ok(Outcome::Stopped { step: run.step() });
        }
        let advance = pollster::block_on(run.advance(25))?;
        bar.set_position(run.step() as u64);
        bar.set_message(format!("loss {:.3}", advance.loss.loss));
        if let Some(evaluation) = advance.evaluation {
            let s = evaluation.summary();
            if display.verbose {
                say(
                    display.bars,
                    &format!(
                        "  step {:>6}  loss {:.4}  seen {:.3}  unseen {:.3}  (has-op {:.3}, no-op {:.3})",
                        s.step,
                        advance.loss.loss,
                        s.seen_accuracy,
                        s.unseen_accuracy,
                        s.unseen_hasop_accuracy,
                        s.noop_accuracy
                    ),
                );
            }
            last = Some(evaluation);
        }
        if advance.finished {
            break;
        }
        if let Some(c) = checkpointing
            && last_checkpoint.elapsed() >= c.every
        {
            save(&run, c)?;
            last_checkpoint = Instant::now();
        }
    }
    bar.finish_and_clear();
    let evaluation = last.expect("the last chunk always evaluates");
    Ok(Outcome::Finished(Box::new(RunRecord::new(
        &run,
        evaluation,
        started.elapsed().as_secs_f64(),
    ))))
}

/// How a stack ended.
pub enum StackOutcome {
    /// Every step taken: for each run, its record or why it diverged.
    Finished(Vec<Result<Box<RunRecord>, String>>),
    /// Asked to stop; checkpointed (as one stack) at this step.
    Stopped { step: usize },
}

fn save_stack(stack: &Stack, path: &Path) -> Result<(), CliError> {
    let checkpoint = pollster::block_on(stack.checkpoint())
        .map_err(|e| CliError::Other(format!("checkpointing failed: {e}")))?;
    write_atomically(path, &checkpoint.to_bytes()).map_err(CliError::Other)
}

/// The stack of `configs`: resumed from the checkpoint file when it holds a stack of exactly these
/// runs, else new.
fn start_stack(
    configs: &[ValidConfig],
    selected: &Selected,
    checkpointing: &Checkpointing,
    display: &Display,
) -> Result<Stack, CliError> {
    // Refused before anything is allocated when the stack cannot fit (every part of a run's
    // estimate times the runs: runs of one stack share their shapes).
    instruction_diversity::engine::memory::check_stack(
        &configs[0],
        configs.len(),
        &selected.limits,
    )
    .map_err(instruction_diversity::engine::run::RunError::from)?;
    if let Some(saved) = saved_for(
        checkpointing.path,
        display,
        "other runs",
        StackCheckpoint::from_bytes,
        |saved| {
            let theirs = saved.metas.iter().map(|m| &m.config).eq(configs.iter());
            theirs.then(|| saved.metas[0].step)
        },
    ) {
        return Ok(Stack::resume(saved, &selected.device)?);
    }
    Ok(Stack::new(configs, &selected.device)?)
}

/// Trains the runs of `configs` as one stack (see `engine::stack`) to the end, or until `stop` is
/// set; checkpointed as a whole every so often and when stopped.
pub fn train_stack(
    configs: &[ValidConfig],
    selected: &Selected,
    display: &Display,
    checkpointing: &Checkpointing,
    stop: &AtomicBool,
) -> Result<StackOutcome, CliError> {
    let started = Instant::now();
    let mut stack = start_stack(configs, selected, checkpointing, display)?;
    let steps = configs[0].train.steps;
    let bar = display.bars.add(ProgressBar::new(steps as u64));
    bar.set_style(bar_style());
    bar.set_prefix(display.label.to_string());
    bar.set_position(stack.step() as u64);
    let mut last_checkpoint = Instant::now();
    let mut last = vec![None; stack.len()];
    loop {
        if stop.load(Ordering::SeqCst) {
            bar.finish_and_clear();
            save_stack(&stack, checkpointing.path)?;
            return Ok(StackOutcome::Stopped { step: stack.step() });
        }
        let advance = pollster::block_on(stack.advance(25))?;
        bar.set_position(stack.step() as u64);
        let losses: Vec<String> = advance
            .losses
            .iter()
            .map(|l| l.map_or("-".into(), |l| format!("{:.3}", l.loss)))
            .collect();
        bar.set_message(format!("loss {}", losses.join(" ")));
        for (slot, evaluation) in last.iter_mut().zip(advance.evaluations) {
            if evaluation.is_some() {
                *slot = evaluation;
            }
        }
        if advance.finished {
            break;
        }
        if last_checkpoint.elapsed() >= checkpointing.every {
            save_stack(&stack, checkpointing.path)?;
            last_checkpoint = Instant::now();
        }
    }
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let records = last
        .into_iter()
        .enumerate()
        .map(|(k, evaluation)| match (stack.diverged(k), evaluation) {
            (Some(why), _) => Err(why.to_string()),
            (None, Some(evaluation)) => {
                Ok(Box::new(RunRecord::of_stack(&stack, k, evaluation, wall)))
            }
            (None, None) => Err("it has no final evaluation".to_string()),
        })
        .collect();
    Ok(StackOutcome::Finished(records))
}
