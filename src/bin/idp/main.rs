//! `idp`: run experiments and sweeps of the Instruction Diversity Playground natively.
//! Thin glue over the core: argument parsing, backend choice, progress bars and files.

#[cfg(not(target_arch = "wasm32"))]
mod backend;
#[cfg(not(target_arch = "wasm32"))]
mod bench;

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

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use crate::backend::BackendChoice;
    use crate::bench;
    use clap::{Args, Parser, Subcommand};
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    use instruction_diversity::engine::config::{ConfigError, ExperimentConfig, ValidConfig};
    use instruction_diversity::engine::run::{Run, RunError};
    use instruction_diversity::engine::settings::apply_settings;
    use instruction_diversity::study::presets::{PRESET_IDS, preset};
    use instruction_diversity::study::record::{self, RunRecord, SweepReport};
    use instruction_diversity::study::sweep::{Axis, SweepSpec};
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;

    #[derive(Parser, Debug)]
    #[command(
        name = "idp",
        version,
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
        },
        /// Run a sweep (a preset's, or one over --instructions / --per-rule) and write CSV and JSON.
        Sweep {
            #[command(flatten)]
            settings: SettingsArgs,
            /// Rule counts I to sweep (comma-separated); replaces the preset's axes.
            #[arg(long, value_delimiter = ',')]
            instructions: Vec<usize>,
            /// Examples per rule S to sweep (comma-separated), crossed with --instructions.
            #[arg(long, value_delimiter = ',')]
            per_rule: Vec<usize>,
            /// Seeds to repeat every point with (comma-separated).
            #[arg(long, value_delimiter = ',')]
            seeds: Vec<u64>,
            /// Folder for sweep.csv and sweep.json.
            #[arg(long, default_value = "runs/sweep")]
            out: PathBuf,
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
        #[arg(long)]
        preset: Option<String>,
        /// Start from a JSON config file (missing keys take their defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one setting by dotted path, e.g. --set task.instructions=256 --set train.steps=500.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Override the experiment seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override the number of training steps.
        #[arg(long)]
        steps: Option<usize>,
        /// Compute backend: cpu, wgpu (Vulkan/Metal/DX12), or auto (a GPU adapter if one exists).
        #[arg(long, default_value = "auto")]
        backend: BackendChoice,
    }

    /// A user-facing failure: printed as one line, exit code 2.
    #[derive(Debug, thiserror::Error)]
    enum CliError {
        #[error("{0}")]
        Config(#[from] ConfigError),
        #[error("{0}")]
        Run(#[from] RunError),
        #[error("{0}")]
        Other(String),
    }

    impl SettingsArgs {
        /// The preset's sweep (if any) and the base config with every override applied.
        fn resolve(&self) -> Result<(Option<SweepSpec>, ValidConfig), CliError> {
            let (sweep, config) = match (&self.preset, &self.config) {
                (Some(_), Some(_)) => {
                    return Err(CliError::Other(
                        "give either --preset or --config, not both".into(),
                    ));
                }
                (Some(id), None) => {
                    let preset = preset(id).ok_or_else(|| {
                        CliError::Other(format!(
                            "unknown preset `{id}`; presets: {}",
                            PRESET_IDS.join(", ")
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

    /// Entry point of the `idp` binary.
    pub(crate) fn main() -> ExitCode {
        let cli = Cli::parse();
        let outcome = match cli.command {
            Command::Run { settings, json } => run_one(&settings, json),
            Command::Sweep {
                settings,
                instructions,
                per_rule,
                seeds,
                out,
            } => run_sweep(&settings, instructions, per_rule, seeds, out),
            Command::Presets => {
                for id in PRESET_IDS {
                    let p = preset(id).expect("listed presets exist");
                    let runs = p.sweep.plan().map(|r| r.len()).unwrap_or(0);
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
                ExitCode::from(2)
            }
        }
    }

    fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Prints above the progress bars, or plainly when they are hidden (output is not a terminal).
    fn say(bars: &MultiProgress, line: &str) {
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

    /// Trains one run to the end with a progress bar, returning its record.
    fn train_with_progress(
        label: &str,
        config: &ValidConfig,
        device: &burn::prelude::Device,
        bars: &MultiProgress,
        verbose: bool,
    ) -> Result<RunRecord, CliError> {
        let started = Instant::now();
        let mut run = Run::new(config, device)?;
        let bar = bars.add(ProgressBar::new(config.train.steps as u64));
        bar.set_style(bar_style());
        bar.set_prefix(label.to_string());
        let mut last = None;
        loop {
            let advance = pollster::block_on(run.advance(25))?;
            bar.set_position(run.step() as u64);
            bar.set_message(format!("loss {:.3}", advance.loss.loss));
            if let Some(evaluation) = advance.evaluation {
                let s = evaluation.summary();
                if verbose {
                    say(
                        bars,
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
        }
        bar.finish_and_clear();
        let evaluation = last.expect("the last chunk always evaluates");
        Ok(RunRecord::new(
            &run,
            evaluation,
            started.elapsed().as_secs_f64(),
        ))
    }

    fn run_one(settings: &SettingsArgs, json: Option<PathBuf>) -> Result<(), CliError> {
        let (_, config) = settings.resolve()?;
        let device = settings.backend.device().map_err(CliError::Other)?;
        let bars = MultiProgress::new();
        let record = train_with_progress("run", &config, &device.device, &bars, true)?;
        println!("{}", record::table(std::slice::from_ref(&record), &[]));
        if let Some(path) = json {
            write_file(
                &path,
                &serde_json::to_string_pretty(&record).expect("records serialize"),
            )
            .map_err(CliError::Other)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }

    fn run_sweep(
        settings: &SettingsArgs,
        instructions: Vec<usize>,
        per_rule: Vec<usize>,
        seeds: Vec<u64>,
        out: PathBuf,
    ) -> Result<(), CliError> {
        let (preset_sweep, base) = settings.resolve()?;
        let mut spec = preset_sweep.unwrap_or_else(|| SweepSpec {
            base: base.raw().clone(),
            axes: Vec::new(),
            seeds: vec![base.seed],
        });
        if !instructions.is_empty() || !per_rule.is_empty() {
            spec.axes.clear();
            if !instructions.is_empty() {
                spec.axes.push(Axis::values(
                    "instructions",
                    "task.instructions",
                    instructions,
                ));
            }
            if !per_rule.is_empty() {
                spec.axes.push(Axis::examples_per_rule(per_rule));
            }
        }
        if !seeds.is_empty() {
            spec.seeds = seeds;
        }
        let plan = spec.plan()?;
        let device = settings.backend.device().map_err(CliError::Other)?;
        std::fs::create_dir_all(&out)
            .map_err(|e| CliError::Other(format!("cannot create {}: {e}", out.display())))?;
        let axis_names: Vec<String> = spec.axes.iter().map(|a| a.name.clone()).collect();
        println!(
            "sweep: {} runs of {} steps on {} -> {}",
            plan.len(),
            spec.base.train.steps,
            device.description,
            out.display()
        );
        let bars = MultiProgress::new();
        let overall = bars.add(ProgressBar::new(plan.len() as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>22} [{bar:30}] {pos}/{len} runs, elapsed {elapsed}",
            )
            .expect("valid template"),
        );
        overall.set_prefix("sweep");
        let mut sweep_report = SweepReport::new(&spec, &device.description);
        for planned in &plan {
            let label = format!("{} seed {}", planned.labels.join(" / "), planned.seed);
            let record =
                train_with_progress(&label, &planned.config, &device.device, &bars, false)?
                    .with_labels(&planned.labels);
            say(&bars, &record::table_row(&record));
            sweep_report.runs.push(record);
            // Written after every run, so an interrupted sweep keeps what it finished.
            write_file(&out.join("sweep.csv"), &sweep_report.to_csv()).map_err(CliError::Other)?;
            write_file(
                &out.join("sweep.json"),
                &serde_json::to_string_pretty(&sweep_report).expect("reports serialize"),
            )
            .map_err(CliError::Other)?;
            overall.inc(1);
        }
        overall.finish_and_clear();
        println!("{}", record::table(&sweep_report.runs, &axis_names));
        println!(
            "wrote {} and {}",
            out.join("sweep.csv").display(),
            out.join("sweep.json").display()
        );
        Ok(())
    }
}
