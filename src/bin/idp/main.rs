//! `idp`: run experiments and sweeps of the Instruction Diversity Playground natively, on one machine
//! or, cell by cell, on a cluster. Thin glue over the library: argument parsing, backend choice,
//! progress bars and files.

#[cfg(not(target_arch = "wasm32"))]
mod ablate;
#[cfg(not(target_arch = "wasm32"))]
mod backend;
#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod class;
#[cfg(not(target_arch = "wasm32"))]
mod files;
#[cfg(not(target_arch = "wasm32"))]
mod runner;

/// Training allocates and frees megabyte-sized tensors at every op; glibc's allocator hands those
/// back to the OS and page-faults them in again each time (a third of the CPU time in profiles).
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// A user-facing failure: printed as one line.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(#[from] instruction_diversity::engine::config::ConfigError),
    #[error("{0}")]
    Run(#[from] instruction_diversity::engine::run::RunError),
    #[error("{0}")]
    Other(String),
    /// Stopped by a signal, with what was kept.
    #[error("{0}")]
    Stopped(String),
    /// A merge with cells still missing (its files are written).
    #[error("{0}")]
    Incomplete(String),
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use crate::CliError;
    use crate::backend::{BackendChoice, Selected};
    use crate::bench;
    use crate::class;
    use crate::files::SweepDir;
    use crate::runner::{self, Checkpointing, Display, Outcome, say};
    use clap::{Args, Parser, Subcommand};
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    use instruction_diversity::engine::config::{ExperimentConfig, ValidConfig};
    use instruction_diversity::engine::settings::apply_settings;
    use instruction_diversity::engine::stack::{Checkpoint, plan_stacks};
    use instruction_diversity::study::class::ClassPlan;
    use instruction_diversity::study::plan::{CellResult, Plan};
    use instruction_diversity::study::presets::{CLUSTER_PRESET_IDS, PRESET_IDS, preset};
    use instruction_diversity::study::record;
    use instruction_diversity::study::schedule::Schedule;
    use instruction_diversity::study::sweep::{Axis, PlannedRun, SweepSetting, SweepSpec};
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    #[derive(Parser, Debug)]
    #[command(
        name = "idp",
        version = if cfg!(feature = "gpu-autotune") {
            concat!(env!("CARGO_PKG_VERSION"), " (gpu-autotune)")
        } else {
            env!("CARGO_PKG_VERSION")
        },
        about = "Instruction Diversity Playground: train tiny transformers on string-rewrite rules and test them on rules they never saw."
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand, Debug)]
    enum Command {
        /// Run one experiment and print its evaluations.
        Run {
            #[command(flatten)]
            settings: SettingsArgs,
            /// Write the run (config, curves, final per-rule results) as JSON here.
            #[arg(long)]
            json: Option<PathBuf>,
            /// Keep the trained model in this checkpoint file, for `idp ablate`.
            #[arg(long)]
            save: Option<PathBuf>,
            /// Write the head scores of every evaluation as CSV here.
            #[arg(long)]
            heads_csv: Option<PathBuf>,
        },
        /// Run a sweep (a preset's, or one over --instructions / --per-rule / --vary) in this process
        /// and write its folder: plan, cells, sweep.csv and sweep.json. The same command run again
        /// (or after an interruption) goes on with the cells not yet done.
        Sweep {
            #[command(flatten)]
            sweep: SweepArgs,
            /// Threads training at once (default: the machine's cores on the CPU, 1 on a GPU).
            #[arg(long, value_parser = at_least_one)]
            jobs: Option<usize>,
            /// Train each cell alone instead of stacking the cells that can train together
            /// (same model and training settings) into one model per thread.
            #[arg(long)]
            no_stack: bool,
            /// Most cells in one stack (bounds the memory a stack holds; each stack's results are
            /// written when it ends).
            #[arg(long, default_value_t = instruction_diversity::engine::stack::MAX_STACK as u16,
                value_parser = clap::value_parser!(u16).range(1..))]
            stack_size: u16,
            /// Minutes between checkpoints of each cell in progress.
            #[arg(long, default_value_t = 5.0)]
            checkpoint_minutes: f64,
            /// Keep each stack's trained models in DIR/models/ (checkpoints), for `idp ablate`.
            #[arg(long)]
            keep_models: bool,
        },
        /// Write a sweep's plan (every cell's settings) into a folder, for `idp cell` on a cluster,
        /// and estimate the compute it needs from a short timing on this machine.
        Plan {
            #[command(flatten)]
            sweep: SweepArgs,
            /// Skip the timing (the estimate of compute hours).
            #[arg(long)]
            no_estimate: bool,
        },
        /// Run one cell of a planned sweep (a Slurm array task runs one each). A cell with a result
        /// is skipped; one interrupted goes on from its checkpoint.
        Cell {
            /// The sweep's folder (made by `idp plan`).
            dir: PathBuf,
            /// The cell's index in the plan (0 to cells - 1).
            #[arg(long)]
            index: usize,
            /// Compute backend: cpu, wgpu, or auto.
            #[arg(long, default_value = "auto")]
            backend: BackendChoice,
            /// Minutes between checkpoints.
            #[arg(long, default_value_t = 5.0)]
            checkpoint_minutes: f64,
            /// Keep the cell's trained model in DIR/models/ (a checkpoint), for `idp ablate`.
            #[arg(long)]
            keep_models: bool,
        },
        /// Evaluate kept models (checkpoints of `run --save` or `sweep --keep-models`) with every
        /// head and with some silenced (zero-ablation: the head's output set to zero), and print
        /// what each run loses and the mechanism table over the runs.
        Ablate {
            /// Checkpoint files (every run in each is ablated).
            #[arg(required = true)]
            files: Vec<PathBuf>,
            /// Heads to silence in every run, as layer.head (0-based), comma-separated: 1.0,1.3
            #[arg(long, conflicts_with = "best", required_unless_present = "best")]
            heads: Option<String>,
            /// Silence each run's head that scores highest on held-out rules on this measure.
            #[arg(long, value_parser = ["copy", "substitute", "match_x"])]
            best: Option<String>,
            /// Write the rows as JSON here.
            #[arg(long)]
            json: Option<PathBuf>,
            /// Compute backend: cpu, wgpu, or auto.
            #[arg(long, default_value = "cpu")]
            backend: BackendChoice,
        },
        /// Gather a planned sweep's cell results into sweep.csv and sweep.json, naming the cells
        /// still missing (exit code 3 when some are).
        Merge {
            /// The sweep's folder.
            dir: PathBuf,
            /// Only print the cells with no result, as ranges (`0-3,7`: a Slurm --array list), and
            /// write nothing.
            #[arg(long)]
            missing: bool,
        },
        /// Run a class's hub: serve the built page and the class's sweep on this machine's network,
        /// so each student's browser trains cells and the teacher's dashboard fills the phase
        /// diagram. Results go to --out as they arrive; the same command again goes on.
        Class {
            #[command(flatten)]
            sweep: SweepArgs,
            /// The built page (what `trunk build --release` writes).
            #[arg(long, default_value = "dist")]
            dist: PathBuf,
            /// Address to listen on (0.0.0.0: every network of this machine).
            #[arg(long, default_value = "0.0.0.0")]
            host: String,
            /// Port to listen on.
            #[arg(long, default_value_t = 8000)]
            port: u16,
            /// The start of the join link students open, when this machine's LAN address is not
            /// the one they reach (e.g. http://classroom.local:8000).
            #[arg(long)]
            public_url: Option<String>,
            /// Seconds a student may stay silent before its cell is handed to another. (A tab
            /// hidden for minutes has its timers slowed to one a minute by the browser: less than
            /// about 90 would take cells from students who only switched tabs.)
            #[arg(long, default_value_t = 120.0)]
            lease_seconds: f64,
            /// About one cell in this many is trained by a second student, to check the devices
            /// against each other (0: none).
            #[arg(long, default_value_t = 5)]
            replicate_every: usize,
            /// Skip the canary (a short first run whose answer the hub computes itself).
            #[arg(long)]
            no_canary: bool,
            /// The build of the page students run (the footer of the page shows it), when --dist
            /// was built from other sources than this idp; results of any other build are refused.
            #[arg(long)]
            page_build: Option<String>,
        },
        /// List the presets.
        Presets,
        /// Print the full config (JSON) that the given settings make, to edit and pass back with --config.
        Config {
            #[command(flatten)]
            settings: SettingsArgs,
        },
        /// Measure training speed of the reference model on each native backend, beside PyTorch.
        Bench(bench::BenchArgs),
    }

    #[derive(Args, Debug, Clone)]
    struct SettingsArgs {
        /// Start from a preset (see `idp presets`).
        #[arg(long, conflicts_with = "lesson")]
        preset: Option<String>,
        /// Start from a lesson's sweep, as the page runs it (two-levels, phase-transition,
        /// what-changed-inside, ...).
        #[arg(long)]
        lesson: Option<String>,
        /// Start from a JSON config file (missing keys take their defaults; unknown keys are refused).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one setting by dotted path, e.g. --set task.instructions=256 --set train.steps=500.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Override the experiment seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override the number of training steps (warm-up and evaluations keep their share).
        #[arg(long)]
        steps: Option<usize>,
        /// Compute backend: cpu, wgpu (Vulkan/Metal/DX12), or auto (a GPU adapter if one exists).
        #[arg(long, default_value = "auto")]
        backend: BackendChoice,
    }

    #[derive(Args, Debug, Clone)]
    struct SweepArgs {
        #[command(flatten)]
        settings: SettingsArgs,
        /// Rule counts I to sweep (comma-separated); replaces the preset's axes.
        #[arg(long, value_delimiter = ',')]
        instructions: Vec<usize>,
        /// Examples per rule S to sweep (comma-separated), crossed with --instructions.
        #[arg(long, value_delimiter = ',')]
        per_rule: Vec<usize>,
        /// Vary a sweepable setting, e.g. --vary noop-share=0,0.25,0.5 (instructions, per-rule,
        /// noop-share, skew, occurrences, program-rules, rule-pool); repeat for a grid. Replaces
        /// the preset's axes.
        #[arg(long = "vary", value_name = "SETTING=VALUES")]
        vary: Vec<String>,
        /// Seeds to repeat every point with (comma-separated).
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        /// The sweep's folder: plan.json, cells/, sweep.csv and sweep.json.
        #[arg(long, default_value = "runs/sweep")]
        out: PathBuf,
    }

    impl SettingsArgs {
        /// The preset's sweep (if any) and the base config with every override applied.
        fn resolve(&self) -> Result<(Option<SweepSpec>, ValidConfig), CliError> {
            if let Some(id) = &self.lesson {
                if self.config.is_some() {
                    return Err(CliError::Other(
                        "give either --lesson or --config, not both".into(),
                    ));
                }
                let found = instruction_diversity::study::lessons::lesson(id).ok_or_else(|| {
                    CliError::Other(format!(
                        "unknown lesson `{id}`; lessons: {}",
                        instruction_diversity::study::lessons::LESSON_IDS.join(", ")
                    ))
                })?;
                return self.with_overrides(Some(found.sweep.clone()), found.sweep.base);
            }
            let (sweep, config) = match (&self.preset, &self.config) {
                (Some(_), Some(_)) => {
                    return Err(CliError::Other(
                        "give either --preset or --config, not both".into(),
                    ));
                }
                (Some(id), None) => {
                    let preset = preset(id).ok_or_else(|| {
                        CliError::Other(format!(
                            "unknown preset `{id}`; presets: {}, {}",
                            PRESET_IDS.join(", "),
                            CLUSTER_PRESET_IDS.join(", ")
                        ))
                    })?;
                    let base = preset.sweep.base.clone();
                    (Some(preset.sweep), base)
                }
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        CliError::Other(format!("cannot read {}: {e}", path.display()))
                    })?;
                    let config = ExperimentConfig::from_json(&text).map_err(|e| {
                        CliError::Other(format!("{} is not a valid config: {e}", path.display()))
                    })?;
                    (None, config)
                }
                (None, None) => (None, instruction_diversity::study::presets::preset_base()),
            };
            self.with_overrides(sweep, config)
        }

        /// `--set`, `--seed` and `--steps` applied to the base `config` (and to `sweep`'s base).
        fn with_overrides(
            &self,
            sweep: Option<SweepSpec>,
            config: ExperimentConfig,
        ) -> Result<(Option<SweepSpec>, ValidConfig), CliError> {
            let mut settings = BTreeMap::new();
            for item in &self.overrides {
                let (key, raw) = item.split_once('=').ok_or_else(|| {
                    CliError::Other(format!("--set wants KEY=VALUE, got `{item}`"))
                })?;
                // JSON when it parses (numbers, objects, lists), else a plain string.
                let value = serde_json::from_str(raw)
                    .unwrap_or_else(|_| serde_json::Value::String(raw.into()));
                settings.insert(key.trim().to_string(), value);
            }
            if let Some(seed) = self.seed {
                settings.insert("seed".into(), seed.into());
            }
            let mut config = apply_settings(&config, &settings)?;
            if let Some(steps) = self.steps {
                // The one rule for a run's length: warm-up and evaluations keep their share.
                config = config.with_steps(steps)?;
            }
            let sweep = sweep.map(|mut s| {
                s.base = config.raw().clone();
                if self.seed.is_some() {
                    s.seeds = vec![config.seed];
                }
                s
            });
            Ok((sweep, config))
        }
    }

    impl SweepArgs {
        /// The sweep: the preset's, or the base run, with the axes and seeds asked for.
        fn spec(&self) -> Result<SweepSpec, CliError> {
            let (preset_sweep, base) = self.settings.resolve()?;
            let mut spec = preset_sweep.unwrap_or_else(|| SweepSpec {
                base: base.raw().clone(),
                axes: Vec::new(),
                seeds: vec![base.seed],
            });
            if !self.instructions.is_empty() || !self.per_rule.is_empty() || !self.vary.is_empty() {
                spec.axes.clear();
                if !self.instructions.is_empty() {
                    spec.axes.push(Axis::values(
                        "instructions",
                        "task.instructions",
                        self.instructions.clone(),
                    ));
                }
                if !self.per_rule.is_empty() {
                    spec.axes
                        .push(Axis::examples_per_rule(self.per_rule.clone()));
                }
                for item in &self.vary {
                    let (id, values) = item.split_once('=').ok_or_else(|| {
                        CliError::Other(format!("--vary wants SETTING=VALUES, got `{item}`"))
                    })?;
                    let setting = SweepSetting::from_id(id.trim()).ok_or_else(|| {
                        let known: Vec<&str> = SweepSetting::all().map(|s| s.id()).collect();
                        CliError::Other(format!(
                            "--vary: unknown setting `{id}`; sweepable: {}",
                            known.join(", ")
                        ))
                    })?;
                    spec.axes.push(setting.axis(values)?);
                }
            }
            if !self.seeds.is_empty() {
                spec.seeds = self.seeds.clone();
            }
            Ok(spec)
        }
    }

    /// The signal that asked the process to stop (0: none yet), for the exit status.
    static STOP_SIGNAL: std::sync::OnceLock<Arc<std::sync::atomic::AtomicUsize>> =
        std::sync::OnceLock::new();

    /// Stops on Ctrl-C or the scheduler's SIGTERM: the flag is set and the cells in progress
    /// checkpoint; a second signal ends the process at once.
    fn stop_flag() -> Arc<AtomicBool> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let flag = Arc::new(AtomicBool::new(false));
        let received = STOP_SIGNAL.get_or_init(Default::default);
        for signal in [SIGINT, SIGTERM] {
            // The conditional shutdown first: it acts only once the flag is already set.
            let _ = signal_hook::flag::register_conditional_shutdown(
                signal,
                signal_status(signal as usize),
                flag.clone(),
            );
            // The signal's number before the flag: whoever sees the flag finds the number set.
            let _ = signal_hook::flag::register_usize(signal, received.clone(), signal as usize);
            let _ = signal_hook::flag::register(signal, flag.clone());
        }
        flag
    }

    /// The shell's exit status for a process stopped by `signal`: 128 + its number (130 for
    /// SIGINT, 143 for SIGTERM), so that a scheduler or script can tell which one stopped it.
    fn signal_status(signal: usize) -> i32 {
        128 + signal as i32
    }

    /// The exit status of a run stopped by a signal: that signal's, or SIGINT's when none is
    /// recorded.
    fn stopped_status() -> u8 {
        let signal = STOP_SIGNAL
            .get()
            .map(|s| s.load(std::sync::atomic::Ordering::SeqCst))
            .filter(|&s| s != 0)
            .unwrap_or(signal_hook::consts::SIGINT as usize);
        u8::try_from(signal_status(signal)).unwrap_or(130)
    }

    /// A count of 1 or more (threads, stack sizes), or an error naming what it must be.
    pub(crate) fn at_least_one(text: &str) -> Result<usize, String> {
        match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!("`{text}` is not a whole number of at least 1")),
        }
    }

    /// Entry point of the `idp` binary.
    pub(crate) fn main() -> ExitCode {
        let cli = Cli::parse();
        let outcome = match cli.command {
            Command::Run {
                settings,
                json,
                save,
                heads_csv,
            } => run_one(&settings, json, save, heads_csv),
            Command::Sweep {
                sweep,
                jobs,
                no_stack,
                stack_size,
                checkpoint_minutes,
                keep_models,
            } => run_sweep(
                &sweep,
                jobs,
                (!no_stack).then_some(usize::from(stack_size)),
                checkpoint_minutes,
                keep_models,
            ),
            Command::Plan { sweep, no_estimate } => plan(&sweep, no_estimate),
            Command::Cell {
                dir,
                index,
                backend,
                checkpoint_minutes,
                keep_models,
            } => cell(&dir, index, backend, checkpoint_minutes, keep_models),
            Command::Merge { dir, missing } => merge(&dir, missing),
            Command::Ablate {
                files,
                heads,
                best,
                json,
                backend,
            } => ablate(&files, heads, best.as_deref(), json.as_deref(), backend),
            Command::Class {
                sweep,
                dist,
                host,
                port,
                public_url,
                lease_seconds,
                replicate_every,
                no_canary,
                page_build,
            } => run_class(
                &sweep,
                page_build.as_deref(),
                class::HubOptions {
                    dir: sweep.out.clone(),
                    dist,
                    host,
                    port,
                    public_url,
                    // NaN and infinities become 0 here, and are refused with the setting's name.
                    lease: Duration::try_from_secs_f64(lease_seconds.min(86_400.0))
                        .unwrap_or(Duration::ZERO),
                    replicate_every,
                    canary: !no_canary,
                },
            ),
            Command::Presets => {
                for id in PRESET_IDS.into_iter().chain(CLUSTER_PRESET_IDS) {
                    let p = preset(id).expect("listed presets exist");
                    let runs = p.sweep.run_count();
                    println!("{:<18} {:<26} {runs} runs  {}", p.id, p.title, p.summary);
                }
                Ok(())
            }
            Command::Config { settings } => settings.resolve().map(|(_, config)| {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&config).expect("configs serialize")
                );
            }),
            Command::Bench(args) => bench::run(&args).map_err(CliError::Other),
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(match e {
                    CliError::Stopped(_) => stopped_status(),
                    CliError::Incomplete(_) => 3,
                    _ => 2,
                })
            }
        }
    }

    fn ablate(
        files: &[PathBuf],
        heads: Option<String>,
        best: Option<&str>,
        json: Option<&std::path::Path>,
        backend: BackendChoice,
    ) -> Result<(), CliError> {
        use crate::ablate::Silence;
        use instruction_diversity::engine::mechanism::Measure;
        let silence = match (heads, best) {
            (Some(heads), _) => Silence::Heads(heads),
            (None, Some("copy")) => Silence::Best(Measure::Copy),
            (None, Some("match_x")) => Silence::Best(Measure::MatchX),
            _ => Silence::Best(Measure::Substitute),
        };
        if let Some(json) = json {
            crate::ablate::check_json_path(json, files).map_err(CliError::Other)?;
        }
        let selected = backend.device().map_err(CliError::Other)?;
        let (rows, failed) = crate::ablate::ablate(files, &silence, &selected);
        if !rows.is_empty() {
            crate::ablate::report(&rows, json).map_err(CliError::Other)?;
        }
        failed.map_or(Ok(()), |e| Err(CliError::Other(e)))
    }

    /// Says how many Markov programs and inputs drawing these runs' data rejects, and which runs
    /// of programs have no composition split (drawing again what the runs will draw:
    /// milliseconds for the presets' budgets).
    fn say_rejections(configs: &[ValidConfig]) {
        use instruction_diversity::engine::task::{Dataset, Rejections};
        let mut total = Rejections::default();
        let mut without_composed = 0;
        for config in configs.iter().filter(|c| !c.task.program.is_single_rule()) {
            let Ok(data) = Dataset::generate(config) else {
                continue;
            };
            total = total + data.rejected;
            without_composed +=
                usize::from(config.task.program.rules >= 2 && data.composed.examples.is_empty());
        }
        if let Some(text) = total.describe() {
            println!("data: {text}");
        }
        if without_composed > 0 {
            println!(
                "data: {without_composed} run(s) have no composed programs to score: every ordering of their training rules is a training program (more rules in the pool, or fewer programs, leave some unseen)"
            );
        }
    }

    fn run_one(
        settings: &SettingsArgs,
        json: Option<PathBuf>,
        save: Option<PathBuf>,
        heads_csv: Option<PathBuf>,
    ) -> Result<(), CliError> {
        let (_, config) = settings.resolve()?;
        say_rejections(std::slice::from_ref(&config));
        let device = settings.backend.device().map_err(CliError::Other)?;
        let bars = MultiProgress::new();
        let display = Display {
            label: "run",
            bars: &bars,
            verbose: true,
        };
        if let Some(path) = &save {
            crate::ablate::check_save_path(path, std::slice::from_ref(&config))
                .map_err(CliError::Other)?;
        }
        let stop = stop_flag();
        // A kept model is the checkpoint written once every step is done.
        let checkpointing = save.as_deref().map(|path| Checkpointing {
            path,
            every: Duration::MAX,
            at_end: true,
        });
        let record = match runner::train(
            std::slice::from_ref(&config),
            &device,
            &display,
            checkpointing.as_ref(),
            &stop,
        )? {
            Outcome::Finished(mut records) => *records.remove(0).map_err(CliError::Other)?,
            Outcome::Stopped { step } => {
                let kept = save.as_ref().map_or(String::new(), |path| {
                    format!(
                        "; the model so far is in {}, and the same command goes on from it",
                        path.display()
                    )
                });
                return Err(CliError::Stopped(format!("stopped at step {step}{kept}")));
            }
        };
        if let Some(path) = &save {
            crate::ablate::check_saved(path, record.steps).map_err(CliError::Other)?;
            println!("kept the trained model in {}", path.display());
        }
        println!("{}", record::table(std::slice::from_ref(&record), &[]));
        if let Some(path) = heads_csv {
            crate::files::write_atomically(&path, record::heads_csv(&record.inside).as_bytes())
                .map_err(CliError::Other)?;
            println!("wrote {}", path.display());
        }
        if let Some(path) = json {
            crate::files::write_atomically(
                &path,
                serde_json::to_string_pretty(&record)
                    .expect("records serialize")
                    .as_bytes(),
            )
            .map_err(CliError::Other)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }

    /// What running a cell came to.
    enum CellOutcome {
        /// It had a result already.
        AlreadyDone,
        /// It ran to its end; its result is written.
        Finished(Box<CellResult>),
        /// It was stopped (and checkpointed) at this step.
        Stopped(usize),
    }

    /// What running the cells of a sweep folder needs.
    struct Cells<'a> {
        dir: &'a SweepDir,
        plan: &'a Plan,
        device: &'a Selected,
        bars: &'a MultiProgress,
        /// Time between checkpoints.
        every: Duration,
        stop: &'a AtomicBool,
        /// Keep each finished checkpoint in `models/` (`--keep-models`).
        keep_models: bool,
    }

    impl Cells<'_> {
        /// Runs cell `index`, unless it has a result: resumed from its checkpoint when there is one,
        /// checkpointed every so often and when stopped, its result written atomically.
        fn run(&self, index: usize, verbose: bool) -> Result<CellOutcome, CliError> {
            run_cell(self, index, verbose)
        }
    }

    fn run_cell(cells: &Cells, index: usize, verbose: bool) -> Result<CellOutcome, CliError> {
        let Cells {
            dir,
            plan,
            device,
            bars,
            every,
            stop,
            keep_models,
        } = *cells;
        if dir
            .read_result(plan, index)
            .map_err(CliError::Other)?
            .is_some()
        {
            return Ok(CellOutcome::AlreadyDone);
        }
        let cell = plan
            .cell(index)
            .map_err(|e| CliError::Other(e.to_string()))?;
        let label = format!(
            "cell {index}: {} seed {}",
            cell.labels.join(" / "),
            cell.seed
        );
        let checkpoint = dir.checkpoint_path(index);
        let checkpointing = Checkpointing {
            path: &checkpoint,
            every,
            at_end: keep_models,
        };
        let display = Display {
            label: &label,
            bars,
            verbose,
        };
        let configs = std::slice::from_ref(&cell.config);
        match runner::train(configs, device, &display, Some(&checkpointing), stop)? {
            Outcome::Stopped { step } => Ok(CellOutcome::Stopped(step)),
            Outcome::Finished(mut records) => {
                let record = records.remove(0).map_err(CliError::Other)?;
                let result =
                    CellResult::new(index, &device.description, record.with_labels(&cell.labels));
                dir.write_result(&result).map_err(CliError::Other)?;
                // The result is written: the checkpoint is of no more use, unless kept.
                finished_with(dir, &checkpoint, keep_models, bars)?;
                Ok(CellOutcome::Finished(Box::new(result)))
            }
        }
    }

    /// The pending cells as stacks of at most `size` for `jobs` threads: first each stack whose
    /// checkpoint the folder holds and each cell with a checkpoint of its own (so that an
    /// interrupted sweep goes on with the stacks and cells it had), then the rest as
    /// `engine::stack::plan_stacks` deals them. A stack some of whose cells got their result
    /// elsewhere since (by `idp cell`) goes on whole when that trains fewer run-steps than starting
    /// its other cells again ([`resume_whole`]); else its checkpoint is removed and they start again.
    fn stack_units(
        dir: &SweepDir,
        plan: &Plan,
        pending: &[usize],
        jobs: usize,
        size: usize,
        limits: &instruction_diversity::engine::memory::MemoryLimits,
    ) -> Vec<Vec<usize>> {
        let mut left: Vec<usize> = pending.to_vec();
        let mut units = Vec::new();
        // First the cells with a checkpoint of their own (trained alone before): nothing else
        // takes them.
        left.retain(|&c| {
            let alone = dir.checkpoint_path(c).exists();
            if alone {
                units.push(vec![c]);
            }
            !alone
        });
        for stack in dir.stack_checkpoints() {
            let waiting: Vec<usize> = stack
                .iter()
                .copied()
                .filter(|c| pending.contains(c))
                .collect();
            if stack.iter().any(|&c| c >= plan.cells.len()) || waiting.is_empty() {
                // Not of this plan, or every cell of it has its result: of no more use.
                let _ = std::fs::remove_file(dir.stack_checkpoint_path(&stack));
            } else if stack.len() > 1 && waiting.iter().all(|c| left.contains(c)) {
                let path = dir.stack_checkpoint_path(&stack);
                let steps = plan.cells[stack[0]].config.train.steps;
                let step = std::fs::read(&path)
                    .ok()
                    .and_then(|b| Checkpoint::from_bytes(&b).ok())
                    .map_or(0, |c| c.step());
                if resume_whole(stack.len(), waiting.len(), steps, step) {
                    // Its cells with a result train along; their results are kept (`run_stack`).
                    left.retain(|c| !stack.contains(c));
                    units.push(stack);
                } else {
                    let _ = std::fs::remove_file(path);
                }
            }
            // Else it overlaps cells taken before it: left as it is.
        }
        let configs: Vec<ValidConfig> =
            left.iter().map(|&i| plan.cells[i].config.clone()).collect();
        // No bigger than memory holds: a stack of K needs about K times a run.
        let fits = |k: usize| {
            configs.iter().all(|c| {
                instruction_diversity::engine::memory::check_stack(c.raw(), k, limits).is_ok()
            })
        };
        let size = (1..=size).rev().find(|&k| fits(k)).unwrap_or(1);
        for stack in plan_stacks(&configs, jobs, size) {
            units.push(stack.into_iter().map(|k| left[k]).collect());
        }
        units
    }

    /// Whether a stack checkpointed at `step` of `steps`, `waiting` of whose `len` cells still need
    /// their result, should go on whole (every cell training to the end) rather than its waiting
    /// cells start again: when that trains no more run-steps. On one core a stack of K costs about K
    /// runs (README, "Sweeps trained together").
    fn resume_whole(len: usize, waiting: usize, steps: usize, step: usize) -> bool {
        len * steps.saturating_sub(step) <= waiting * steps
    }

    /// Runs the cells of `stack` as one stack: checkpointed as a whole, each result written as
    /// its run ends (they all end together).
    fn run_stack(cells: &Cells, stack: &[usize]) -> Vec<(usize, Result<CellOutcome, CliError>)> {
        let Cells {
            dir,
            plan,
            device,
            bars,
            every,
            stop,
            keep_models,
        } = *cells;
        let planned: Vec<&PlannedRun> = stack.iter().map(|&i| &plan.cells[i]).collect();
        let configs: Vec<ValidConfig> = planned.iter().map(|c| c.config.clone()).collect();
        let names: Vec<String> = stack.iter().map(|i| i.to_string()).collect();
        let label = format!("cells {}", names.join(", "));
        let checkpoint = dir.stack_checkpoint_path(stack);
        let checkpointing = Checkpointing {
            path: &checkpoint,
            every,
            at_end: keep_models,
        };
        let display = Display {
            label: &label,
            bars,
            verbose: false,
        };
        // Cells of a resumed stack that have their result already (finished alone since the
        // stack was checkpointed) train along but keep that result, and report nothing.
        let done: Vec<bool> = stack
            .iter()
            .map(|&i| matches!(dir.read_result(plan, i), Ok(Some(_))))
            .collect();
        let every_cell = |outcome: &dyn Fn() -> Result<CellOutcome, CliError>| {
            stack
                .iter()
                .zip(&done)
                .filter(|(_, done)| !**done)
                .map(|(&i, _)| (i, outcome()))
                .collect()
        };
        match runner::train(&configs, device, &display, Some(&checkpointing), stop) {
            Err(e) => {
                let message = e.to_string();
                every_cell(&|| Err(CliError::Other(message.clone())))
            }
            Ok(Outcome::Stopped { step }) => every_cell(&|| Ok(CellOutcome::Stopped(step))),
            Ok(Outcome::Finished(records)) => {
                let mut outcomes = Vec::with_capacity(stack.len());
                for (((&index, cell), record), done) in
                    stack.iter().zip(&planned).zip(records).zip(&done)
                {
                    if *done {
                        continue;
                    }
                    let outcome = record.map_err(CliError::Other).and_then(|record| {
                        let result = CellResult::new(
                            index,
                            &device.description,
                            record.with_labels(&cell.labels),
                        );
                        dir.write_result(&result).map_err(CliError::Other)?;
                        Ok(CellOutcome::Finished(Box::new(result)))
                    });
                    outcomes.push((index, outcome));
                }
                // Every result is written: the checkpoint is of no more use. (When one could not
                // be written, the checkpoint stays, and the same command goes on from it.)
                if outcomes.iter().all(|(_, o)| o.is_ok())
                    && let Err(e) = finished_with(dir, &checkpoint, keep_models, bars)
                {
                    outcomes = outcomes
                        .into_iter()
                        .map(|(i, _)| (i, Err(CliError::Other(e.to_string()))))
                        .collect();
                }
                outcomes
            }
        }
    }

    /// A finished cell's or stack's checkpoint: moved to `models/` when kept (and said), else
    /// removed.
    fn finished_with(
        dir: &SweepDir,
        checkpoint: &std::path::Path,
        keep: bool,
        bars: &MultiProgress,
    ) -> Result<(), CliError> {
        if !keep {
            let _ = std::fs::remove_file(checkpoint);
            return Ok(());
        }
        let kept = dir.keep_model(checkpoint).map_err(|e| {
            CliError::Other(format!(
                "--keep-models: the trained models were not kept: {e}"
            ))
        })?;
        runner::say(
            bars,
            &format!("kept the trained models in {}", kept.display()),
        );
        Ok(())
    }

    fn minutes(value: f64) -> Result<Duration, CliError> {
        Duration::try_from_secs_f64(value * 60.0)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::Other(format!(
                    "--checkpoint-minutes must be a positive number, got {value}"
                ))
            })
    }

    fn cell(
        dir: &std::path::Path,
        index: usize,
        backend: BackendChoice,
        checkpoint_minutes: f64,
        keep_models: bool,
    ) -> Result<(), CliError> {
        // First: a signal from here on checkpoints instead of killing.
        let stop = stop_flag();
        let every = minutes(checkpoint_minutes)?;
        let dir = SweepDir::new(dir);
        let plan = dir.read_plan().map_err(CliError::Other)?;
        plan.cell(index)
            .map_err(|e| CliError::Other(e.to_string()))?;
        let device = backend.device().map_err(CliError::Other)?;
        let bars = MultiProgress::new();
        let cells = Cells {
            dir: &dir,
            plan: &plan,
            device: &device,
            bars: &bars,
            every,
            stop: &stop,
            keep_models,
        };
        match cells.run(index, true)? {
            CellOutcome::AlreadyDone => {
                println!(
                    "cell {index} already has a result ({}): nothing to do{}",
                    dir.result_path(index).display(),
                    if keep_models {
                        " (it is not trained again, so --keep-models keeps no model of it)"
                    } else {
                        ""
                    }
                );
                Ok(())
            }
            CellOutcome::Finished(result) => {
                println!("{}", record::table_row(&result.record));
                println!("wrote {}", dir.result_path(index).display());
                Ok(())
            }
            CellOutcome::Stopped(step) => Err(CliError::Stopped(format!(
                "cell {index} stopped at step {step} and was checkpointed ({}): run it again to go on",
                dir.checkpoint_path(index).display()
            ))),
        }
    }

    /// Indices as ranges: `0-3,7,9-10`.
    fn ranges(indices: &[usize]) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < indices.len() {
            let start = indices[i];
            while i + 1 < indices.len() && indices[i + 1] == indices[i] + 1 {
                i += 1;
            }
            parts.push(if indices[i] == start {
                start.to_string()
            } else {
                format!("{start}-{}", indices[i])
            });
            i += 1;
        }
        parts.join(",")
    }

    fn merge(dir: &std::path::Path, only_missing: bool) -> Result<(), CliError> {
        let dir = SweepDir::new(dir);
        let plan = dir.read_plan().map_err(CliError::Other)?;
        if only_missing {
            let done: Vec<usize> = dir
                .results(&plan)
                .map_err(CliError::Other)?
                .iter()
                .map(|r| r.index)
                .collect();
            let missing: Vec<usize> = (0..plan.cells.len())
                .filter(|i| !done.contains(i))
                .collect();
            println!("{}", ranges(&missing));
            return Ok(());
        }
        let (report, missing) = dir.merge(&plan).map_err(CliError::Other)?;
        let axis_names = report.axis_names();
        println!("{}", record::table(&report.runs, &axis_names));
        println!(
            "merged {} of {} cells into {} and {}",
            report.runs.len(),
            plan.cells.len(),
            dir.root().join("sweep.csv").display(),
            dir.root().join("sweep.json").display()
        );
        if missing.is_empty() {
            Ok(())
        } else {
            Err(CliError::Incomplete(missing_cells(&dir, &missing)))
        }
    }

    fn missing_cells(dir: &SweepDir, missing: &[usize]) -> String {
        format!(
            "{} cell(s) have no result yet: {} (run `idp cell {} --index I` for each, or the sweep again)",
            missing.len(),
            ranges(missing),
            dir.root().display()
        )
    }

    /// Seconds one cell's run takes on this machine's backend, estimated from one timed training
    /// step (after one untimed) and one timed forward pass over a decoding batch: an evaluation
    /// decodes each of its examples one answer token at a time, each token a forward pass over at
    /// most the whole sequence, so the estimate of evaluations errs on the long side.
    fn time_cell(config: &ValidConfig, device: &Selected) -> Result<f64, CliError> {
        use burn::prelude::{Int, Module as _, Tensor};
        use burn::tensor::TensorData;
        use instruction_diversity::engine::eval::DECODE_BATCH;
        use instruction_diversity::engine::task::Dataset;
        use instruction_diversity::engine::tokenizer::SequenceLayout;
        use instruction_diversity::engine::train::Trainer;
        let failed = |e: &dyn std::fmt::Debug| CliError::Other(format!("the timing failed: {e:?}"));
        let datasets = [Dataset::generate(config)?];
        let configs = std::slice::from_ref(config);
        let mut trainer = Trainer::new(configs, &datasets, &device.device)
            .map_err(instruction_diversity::engine::run::RunError::from)?;
        let read =
            |loss: Tensor<1>| pollster::block_on(loss.into_data_async()).map_err(|e| failed(&e));
        read(trainer.train_chunk(&datasets, 1).1)?;
        let started = Instant::now();
        read(trainer.train_chunk(&datasets, 1).1)?;
        let per_step = started.elapsed().as_secs_f64();
        let layout = SequenceLayout::new(&config.task);
        let examples =
            config.eval.seen_examples + config.eval.unseen_examples + config.eval.noop_examples;
        let rows = DECODE_BATCH.min(examples);
        let tokens = Tensor::<3, Int>::from_data(
            TensorData::new(
                vec![0i64; rows * layout.sequence_len()],
                [1, rows, layout.sequence_len()],
            ),
            &device.device.clone().without_autodiff(),
        );
        let model = trainer.model().valid();
        let started = Instant::now();
        let logits = model.forward(tokens);
        pollster::block_on(logits.into_data_async()).map_err(|e| failed(&e))?;
        let per_forward = started.elapsed().as_secs_f64();
        let per_evaluation =
            per_forward * layout.answer_width as f64 * examples.div_ceil(rows) as f64;
        let evaluations = config.train.steps.div_ceil(config.train.eval_every);
        Ok(per_step * config.train.steps as f64 + per_evaluation * evaluations as f64)
    }

    fn plan(args: &SweepArgs, no_estimate: bool) -> Result<(), CliError> {
        let plan = Plan::new(args.spec()?)?;
        let dir = SweepDir::new(&args.out);
        dir.prepare(&plan).map_err(CliError::Other)?;
        let done = dir.results(&plan).map_err(CliError::Other)?.len();
        let cells = plan.cells.len();
        println!(
            "planned {cells} cells ({} steps each) in {}{}",
            plan.spec.base.train.steps,
            dir.root().display(),
            if done > 0 {
                format!(", {done} already done")
            } else {
                String::new()
            }
        );
        if !no_estimate {
            let device = args.settings.backend.device().map_err(CliError::Other)?;
            println!(
                "timing two training steps and one decoding pass of cell 0 on {} (--no-estimate skips this)...",
                device.description
            );
            // Every cell of a sweep has the model, batch and steps of the first, or close to it:
            // the first cell's timing stands for all of them.
            let seconds = time_cell(&plan.cells[0].config, &device)?;
            let total: f64 = plan
                .cells
                .iter()
                .map(|c| {
                    seconds * c.config.train.steps as f64 / plan.cells[0].config.train.steps as f64
                })
                .sum();
            println!(
                "estimated compute: {:.1} hours on {} ({:.2} hours for cell 0); a GPU takes less",
                total / 3600.0,
                device.description,
                seconds / 3600.0
            );
        }
        println!(
            "next: `idp cell {} --index I` for I in 0..{cells}, `scripts/slurm/submit {}` on a Slurm cluster, then `idp merge {}`",
            dir.root().display(),
            dir.root().display(),
            dir.root().display()
        );
        Ok(())
    }

    /// `idp class`: the class's plan, and its hub until Ctrl-C.
    fn run_class(
        args: &SweepArgs,
        page_build: Option<&str>,
        options: class::HubOptions,
    ) -> Result<(), CliError> {
        if let Some(build) = page_build
            && !(build.len() == 16 && build.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(CliError::Other(format!(
                "--page-build `{build}`: a build is 16 hexadecimal digits, as the page's footer shows it"
            )));
        }
        if options.lease < Duration::from_secs(1) {
            return Err(CliError::Other("--lease-seconds: at least 1".into()));
        }
        let build = page_build.unwrap_or(instruction_diversity::protocol::BUILD);
        let class =
            ClassPlan::new(args.spec()?, build).map_err(|e| CliError::Other(e.to_string()))?;
        class::serve(class, &options, |class: &ClassPlan| {
            // The canary's answer, on this machine's CPU, quietly.
            let device = BackendChoice::Cpu.device()?;
            let bars = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
            let display = Display {
                label: "canary",
                bars: &bars,
                verbose: false,
            };
            let never = AtomicBool::new(false);
            match runner::train(&[class.canary()], &device, &display, None, &never) {
                Ok(Outcome::Finished(mut records)) => Ok(records.remove(0)?.result),
                Ok(Outcome::Stopped { .. }) => Err("stopped".into()),
                Err(e) => Err(e.to_string()),
            }
        })
        .map_err(CliError::Other)
    }

    fn run_sweep(
        args: &SweepArgs,
        jobs: Option<usize>,
        stack_size: Option<usize>,
        checkpoint_minutes: f64,
        keep_models: bool,
    ) -> Result<(), CliError> {
        // First: a signal from here on checkpoints instead of killing.
        let stop = stop_flag();
        let every = minutes(checkpoint_minutes)?;
        let plan = Plan::new(args.spec()?)?;
        let dir = SweepDir::new(&args.out);
        dir.prepare(&plan).map_err(CliError::Other)?;
        let device = args.settings.backend.device().map_err(CliError::Other)?;
        let on_gpu = !device.description.starts_with("CPU");
        let jobs = jobs
            .unwrap_or_else(|| {
                if on_gpu {
                    1
                } else {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                }
            })
            .max(1);
        let mut pending = Vec::new();
        for index in 0..plan.cells.len() {
            if dir
                .read_result(&plan, index)
                .map_err(CliError::Other)?
                .is_none()
            {
                pending.push(index);
            }
        }
        let done = plan.cells.len() - pending.len();
        if keep_models && done > 0 {
            println!(
                "--keep-models: {done} cells already have a result and are not trained again, so \
                 they keep no model (their models are in {} if an earlier run kept them)",
                dir.root().join("models").display()
            );
        }
        let units = if let Some(size) = stack_size {
            stack_units(&dir, &plan, &pending, jobs, size, &device.limits)
        } else {
            if !dir.stack_checkpoints().is_empty() {
                println!(
                    "note: {} holds checkpoints of stacked cells, which --no-stack does not use: those cells start again (run without --no-stack to go on from them)",
                    dir.root().join("cells").display()
                );
            }
            pending.iter().map(|&i| vec![i]).collect()
        };
        let threads = jobs.min(units.len().max(1));
        say_rejections(
            &pending
                .iter()
                .filter_map(|&i| plan.cells[i].config.validate().ok())
                .collect::<Vec<_>>(),
        );
        println!(
            "sweep: {} cells of {} steps on {} -> {}{}, {} at a time{}",
            plan.cells.len(),
            plan.spec.base.train.steps,
            device.description,
            dir.root().display(),
            if done > 0 {
                format!(" ({done} already done)")
            } else {
                String::new()
            },
            threads,
            if units.iter().any(|u| u.len() > 1) {
                let sizes: Vec<String> = units.iter().map(|u| u.len().to_string()).collect();
                format!(" (stacks of {} cells)", sizes.join(", "))
            } else {
                String::new()
            }
        );
        let bars = MultiProgress::new();
        let overall = bars.add(ProgressBar::new(plan.cells.len() as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>22} [{bar:30}] {pos}/{len} cells, elapsed {elapsed}",
            )
            .expect("valid template"),
        );
        overall.set_prefix("sweep");
        overall.set_position(done as u64);
        let cells = Cells {
            dir: &dir,
            plan: &plan,
            device: &device,
            bars: &bars,
            every,
            stop: &stop,
            keep_models,
        };
        // Which unit each thread trains next is the schedule's (the rule the page's workers and
        // the class hub's students follow too): the cells with a result are done, and a thread
        // takes the first unit that still has a cell to train and that no thread holds.
        let schedule = {
            let mut schedule = Schedule::new(plan.cells.len());
            for cell in (0..plan.cells.len()).filter(|c| !pending.contains(c)) {
                schedule.mark_done(cell);
            }
            Mutex::new(schedule)
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        let mut failures = Vec::new();
        let mut stopped = Vec::new();
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let sender = sender.clone();
                let (cells, schedule, units) = (&cells, &schedule, &units);
                scope.spawn(move || {
                    let name = format!("thread {thread}");
                    let lock = || {
                        schedule
                            .lock()
                            .expect("no thread panics holding the schedule")
                    };
                    while !cells.stop.load(Ordering::SeqCst) {
                        let Some(unit) = lock().take_unit(&name, 0, units).map(<[usize]>::to_vec)
                        else {
                            break;
                        };
                        let outcomes = match unit.as_slice() {
                            [index] => vec![(*index, cells.run(*index, false))],
                            stack => run_stack(cells, stack),
                        };
                        {
                            let mut schedule = lock();
                            for (index, outcome) in &outcomes {
                                if matches!(
                                    outcome,
                                    Ok(CellOutcome::Finished(_) | CellOutcome::AlreadyDone)
                                ) {
                                    schedule.finish(*index, &name);
                                }
                            }
                            // A stopped or failed cell is not trained again in this process.
                            for &index in &unit {
                                schedule.mark_done(index);
                            }
                        }
                        if outcomes.into_iter().any(|o| sender.send(o).is_err()) {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            // Each finished cell is merged at once, so the folder's sweep.csv and sweep.json always
            // hold every run finished so far.
            for (index, outcome) in receiver {
                match outcome {
                    Ok(CellOutcome::Finished(result)) => {
                        say(&bars, &record::table_row(&result.record));
                        overall.inc(1);
                        if let Err(e) = dir.merge(&plan) {
                            failures.push(e);
                        }
                    }
                    Ok(CellOutcome::AlreadyDone) => overall.inc(1),
                    Ok(CellOutcome::Stopped(step)) => stopped.push((index, step)),
                    Err(e) => failures.push(format!("cell {index}: {e}")),
                }
            }
        });
        overall.finish_and_clear();
        let (report, missing) = dir.merge(&plan).map_err(CliError::Other)?;
        println!("{}", record::table(&report.runs, &report.axis_names()));
        println!(
            "wrote {} and {}",
            dir.root().join("sweep.csv").display(),
            dir.root().join("sweep.json").display()
        );
        if !stopped.is_empty() {
            let kept: Vec<String> = stopped
                .iter()
                .map(|(i, step)| format!("cell {i} at step {step}"))
                .collect();
            return Err(CliError::Stopped(format!(
                "stopped; checkpointed {}: run the same command again to go on",
                kept.join(", ")
            )));
        }
        if !failures.is_empty() {
            return Err(CliError::Other(failures.join("; ")));
        }
        if !missing.is_empty() {
            return Err(CliError::Incomplete(missing_cells(&dir, &missing)));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::resume_whole;

        #[test]
        fn a_stack_goes_on_whole_only_when_that_trains_no_more_run_steps() {
            // Every cell waiting: always (nothing is trained twice).
            assert!(resume_whole(4, 4, 1000, 0));
            assert!(resume_whole(2, 2, 1000, 999));
            // One of two done: past half-way the stack is cheaper, before it the lone cell.
            assert!(resume_whole(2, 1, 1000, 500));
            assert!(resume_whole(2, 1, 1000, 800));
            assert!(!resume_whole(2, 1, 1000, 499));
            // Seven of eight done early on: start the last one again.
            assert!(!resume_whole(8, 1, 4000, 10));
            assert!(resume_whole(8, 1, 4000, 3500));
            // A step past the end (a damaged count) trains nothing more.
            assert!(resume_whole(3, 1, 100, 150));
        }
    }
}
