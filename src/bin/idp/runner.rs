//! Training runs to their end with a progress bar: `idp` as a host of the one training session
//! (`instruction_diversity::session`). Its inbox is the stop flag that Ctrl-C and a cluster's
//! SIGTERM set (the session then checkpoints and ends), its events draw the bar, and its
//! checkpoint is a file written atomically.

use crate::CliError;
use crate::backend::Selected;
use crate::files::write_atomically;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use instruction_diversity::engine::config::ValidConfig;
use instruction_diversity::engine::stack::Checkpoint;
use instruction_diversity::protocol::{
    BackendInfo, BackendKind, BackendPreference, Command, Event, RunEvent, Work,
};
use instruction_diversity::session::{Backend, Ended, Host, Policy, Session};
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

/// Where and how often the runs are checkpointed.
pub struct Checkpointing<'a> {
    /// The checkpoint file (written atomically).
    pub path: &'a Path,
    /// Time between checkpoints.
    pub every: Duration,
    /// Checkpoint the trained models once more at the end (to keep them for `idp ablate`).
    pub at_end: bool,
}

/// How the runs ended.
pub enum Outcome {
    /// Every step taken: for each run, its record or why it failed (its loss diverged).
    Finished(Vec<Result<Box<RunRecord>, String>>),
    /// Asked to stop (Ctrl-C, the scheduler's SIGTERM); checkpointed at this step when a
    /// checkpoint file was given.
    Stopped { step: usize },
}

/// What the runs may say: `verbose` prints each evaluation.
pub struct Display<'a> {
    pub label: &'a str,
    pub bars: &'a MultiProgress,
    pub verbose: bool,
}

/// `idp` as the session's host.
struct CliHost<'a> {
    started: Instant,
    stop: &'a AtomicBool,
    stop_sent: bool,
    selected: &'a Selected,
    display: &'a Display<'a>,
    checkpoint: Option<&'a Path>,
    /// The runs asked for, to say why a checkpoint file is not theirs.
    asked: &'a [ValidConfig],
    /// Why the checkpoint file read is not used, said once training starts afresh.
    not_used: Option<String>,
    bar: Option<ProgressBar>,
    losses: Vec<Option<f32>>,
    records: Vec<Option<Result<Box<RunRecord>, String>>>,
    /// The last failure to checkpoint, or to start.
    checkpoint_failed: Option<String>,
    error: Option<String>,
}

impl CliHost<'_> {
    fn run_event(&mut self, member: usize, said: RunEvent) {
        if member >= self.records.len() {
            self.records.resize(member + 1, None);
        }
        if member >= self.losses.len() {
            self.losses.resize(member + 1, None);
        }
        match said {
            RunEvent::Progress { step, loss, .. } => {
                self.losses[member] = Some(loss);
                if let Some(bar) = &self.bar {
                    bar.set_position(step as u64);
                    let losses: Vec<String> = self
                        .losses
                        .iter()
                        .map(|l| l.map_or("-".into(), |l| format!("{l:.3}")))
                        .collect();
                    bar.set_message(format!("loss {}", losses.join(" ")));
                }
            }
            RunEvent::Evaluation { summary: s, .. } if self.display.verbose => {
                let loss = self.losses[member].unwrap_or(f32::NAN);
                say(
                    self.display.bars,
                    &format!(
                        "  step {:>6}  loss {loss:.4}  seen {:.3}  unseen {:.3}  (has-op {:.3}, no-op {:.3}){}",
                        s.step,
                        s.seen_accuracy,
                        s.unseen_accuracy,
                        s.unseen_hasop_accuracy,
                        s.noop_accuracy,
                        s.composed_accuracy
                            .map_or(String::new(), |a| format!("  composed {a:.3}"))
                    ),
                );
            }
            RunEvent::Evaluation { .. } | RunEvent::Finished { .. } => {}
            RunEvent::Record { record } => self.records[member] = Some(Ok(record)),
            RunEvent::Failed { message } => {
                self.losses[member] = None;
                self.records[member] = Some(Err(message));
            }
        }
    }
}

impl Host for CliHost<'_> {
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    async fn yield_now(&mut self) {}

    async fn sleep(&mut self, seconds: f64) {
        std::thread::sleep(Duration::from_secs_f64(seconds));
    }

    fn next_command(&mut self) -> Option<Command> {
        // Checkpoint, then end: the same command goes on from there.
        let stop = self.stop.load(Ordering::SeqCst) && !self.stop_sent;
        self.stop_sent |= stop;
        stop.then_some(Command::Suspend)
    }

    fn emit(&mut self, event: Event) {
        match event {
            Event::Training { step, .. } => {
                let bar = self.display.bars.add(ProgressBar::new(
                    self.asked.first().map_or(0, |c| c.train.steps) as u64,
                ));
                bar.set_style(bar_style());
                bar.set_prefix(self.display.label.to_string());
                bar.set_position(step as u64);
                self.bar = Some(bar);
                let label = self.display.label;
                match (step, self.not_used.take()) {
                    (0, Some(why)) => say(
                        self.display.bars,
                        &format!("{label}: {why}; starting afresh"),
                    ),
                    (0, None) => {}
                    (step, _) => say(
                        self.display.bars,
                        &format!("{label}: goes on from its checkpoint at step {step}"),
                    ),
                }
            }
            Event::Member { member, said } => self.run_event(member, said),
            Event::CheckpointFailed { message } => self.checkpoint_failed = Some(message),
            Event::Error { message } | Event::DeviceLost { message } => self.error = Some(message),
            Event::Checkpointed { .. }
            | Event::Ready { .. }
            | Event::Answer { .. }
            | Event::Ablated { .. }
            | Event::Paused { .. }
            | Event::Resumed => {}
        }
    }

    async fn read_checkpoint(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(path) = self.checkpoint else {
            return Ok(None);
        };
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(None);
        };
        self.not_used = match Checkpoint::from_bytes(&bytes) {
            Ok(saved) if saved.holds(self.asked) => None,
            Ok(_) => Some(format!("{} holds other runs", path.display())),
            Err(e) => Some(format!("{} cannot be used ({e})", path.display())),
        };
        Ok(Some(bytes))
    }

    async fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<Option<usize>, String> {
        let Some(path) = self.checkpoint else {
            return Ok(None);
        };
        let bytes = checkpoint.to_bytes();
        write_atomically(path, &bytes).map(|()| Some(bytes.len()))
    }

    /// The CLI removes a cell's checkpoint itself, once the cell's result is written (a result that
    /// could not be written leaves the checkpoint, and the same command goes on from it).
    async fn forget_checkpoint(&mut self) {}

    async fn backend(&mut self, _: BackendPreference) -> Backend {
        let gpu = self.selected.description.starts_with("wgpu");
        Backend {
            device: self.selected.device.clone(),
            info: BackendInfo {
                kind: if gpu {
                    BackendKind::WebGpu
                } else {
                    BackendKind::Cpu
                },
                description: self.selected.description.clone(),
            },
            limits: self.selected.limits.clone(),
        }
    }

    fn device_lost(&self) -> bool {
        false
    }
}

/// Trains the runs of `configs` together (see `engine::stack`; one run is a stack of one) to the
/// end, or until `stop` is set: resumed from the checkpoint file when it holds exactly these runs,
/// else from the start; checkpointed every so often and when stopped.
pub fn train(
    configs: &[ValidConfig],
    selected: &Selected,
    display: &Display,
    checkpointing: Option<&Checkpointing>,
    stop: &AtomicBool,
) -> Result<Outcome, CliError> {
    let host = CliHost {
        started: Instant::now(),
        stop,
        stop_sent: false,
        selected,
        display,
        checkpoint: checkpointing.map(|c| c.path),
        asked: configs,
        not_used: None,
        bar: None,
        losses: Vec::new(),
        records: vec![None; configs.len()],
        checkpoint_failed: None,
        error: None,
    };
    let policy = Policy {
        checkpoint_at_end: checkpointing.is_some_and(|c| c.at_end),
        ..Policy::cli(checkpointing.map(|c| c.every.as_secs_f64()))
    };
    let mut session = Session::new(host, policy);
    let work = Work::SavedIfSame {
        runs: configs.to_vec(),
    };
    let ended = pollster::block_on(session.train(work, BackendPreference::Auto));
    let host = session.host;
    if let Some(bar) = &host.bar {
        bar.finish_and_clear();
    }
    if let Some(why) = &host.checkpoint_failed {
        say(
            display.bars,
            &format!("{}: checkpointing failed: {why}", display.label),
        );
    }
    match ended {
        Ended::Finished | Ended::Failed if host.error.is_none() => Ok(Outcome::Finished(
            host.records
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err("it has no final evaluation".into())))
                .collect(),
        )),
        Ended::Suspended { step } => match (checkpointing, host.checkpoint_failed) {
            (Some(_), Some(why)) => Err(CliError::Other(format!(
                "stopped at step {step}, but the checkpoint could not be written: {why}"
            ))),
            _ => Ok(Outcome::Stopped { step }),
        },
        _ => Err(CliError::Other(host.error.unwrap_or_else(|| {
            "the training ended without a result".to_string()
        }))),
    }
}
