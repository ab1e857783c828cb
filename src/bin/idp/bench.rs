//! `idp bench`: training speed of the reference model on each native backend, beside PyTorch;
//! `idp bench --sweep`: the `phase-transition` sweep's runs one after another, stacked, and on every
//! core; `idp bench --stacks 1,2,4`: stacks of K runs on one device (what `scripts/gpu-bench` runs).

use crate::backend::BackendChoice;
use burn::prelude::Device;
use instruction_diversity::engine::config::{ExperimentConfig, ValidConfig};
use instruction_diversity::engine::kernels;
use instruction_diversity::engine::stack::{MAX_STACK, plan_stacks};
use instruction_diversity::engine::task::Dataset;
use instruction_diversity::engine::tokenizer::SequenceLayout;
use instruction_diversity::engine::train::Trainer;
use instruction_diversity::study::plan::Plan;
use instruction_diversity::study::presets::{paper_config, preset, reference_config};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Barrier;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Timed training steps per backend.
    #[arg(long, default_value_t = 200, value_parser = crate::cli::at_least_one)]
    steps: usize,
    /// Untimed steps first (allocation, shader compilation).
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Python interpreter with PyTorch for the side-by-side figure.
    #[arg(long, env = "IDP_PYTHON", default_value = "python3")]
    python: String,
    /// Which to measure, comma-separated: cpu, wgpu, torch.
    #[arg(long, value_delimiter = ',', default_value = "cpu,wgpu,torch",
          value_parser = ["cpu", "wgpu", "torch"])]
    only: Vec<String>,
    /// The PyTorch script.
    #[arg(long, default_value = "bench/torch_bench.py")]
    torch_script: PathBuf,
    /// Measure the `phase-transition` sweep's runs (reference model, same steps) one after another,
    /// stacked on one thread, alone on every core and stacked on every core, on the CPU backend;
    /// the last line is `sweep speedup: X.XXx` (the best against one after another).
    #[arg(long, conflicts_with = "stacks")]
    sweep: bool,
    /// Threads for `--sweep`'s "every core" rows (default: the machine's cores).
    #[arg(long, value_parser = crate::cli::at_least_one)]
    jobs: Option<usize>,
    /// Measure stacks of these many runs on each backend of `--only` (cpu, wgpu), beside one run
    /// alone: step time and run-steps per second.
    #[arg(long, value_delimiter = ',', value_parser = crate::cli::at_least_one)]
    stacks: Vec<usize>,
    /// The model of `--stacks`: `reference` (2 layers, width 64) or `paper` (6 layers, width 256).
    #[arg(long, default_value = "reference", value_parser = ["reference", "paper"])]
    model: String,
    /// Count the kernel launches of one training step of the reference model on wgpu (after
    /// `--warmup` steps; averaged over `--steps`), burn's fusion on (see Cargo.toml).
    #[arg(long, conflicts_with_all = ["sweep", "stacks", "only", "model", "jobs"])]
    launches: bool,
}

struct Measurement {
    name: String,
    steps_per_s: f64,
    tokens_per_s: f64,
}

/// The reference model at `--batch`, trained for `--warmup` and then `--steps` steps (its learning
/// rate warm-up no longer than that, so a short bench is a valid run).
///
/// # Errors
/// The config's own error when the settings cannot train.
fn timed_reference(args: &BenchArgs) -> Result<ValidConfig, String> {
    let mut config = reference_config();
    config.train.batch_size = args.batch;
    config.train.steps = all_steps(args)?;
    config.train.warmup_steps = config.train.warmup_steps.min(config.train.steps);
    // The one setting of the reference run that comes from a flag: name the flag.
    config.validate().map_err(|e| match e.setting.as_str() {
        "train.batch_size" => format!("--batch: {}", e.message),
        _ => e.to_string(),
    })
}

/// `--warmup` and `--steps` together.
///
/// # Errors
/// When they add up to more steps than a run can count.
fn all_steps(args: &BenchArgs) -> Result<usize, String> {
    args.warmup.checked_add(args.steps).ok_or_else(|| {
        format!(
            "--warmup {} and --steps {}: more steps than a run can count",
            args.warmup, args.steps
        )
    })
}

/// A kernel's name, cut to one readable line (a matmul's full generic type runs to thousands of
/// characters).
fn kernel_name(name: &str) -> String {
    const LONGEST: usize = 110;
    match name.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

fn measure(name: &str, device: &Device, args: &BenchArgs) -> Result<Measurement, String> {
    let config = timed_reference(args)?;
    let mut unit = Unit::new(std::slice::from_ref(&config), &[0], device)?;
    unit.train(args.warmup)?;
    let started = Instant::now();
    // One chunk, one readback at its end: the readback waits for every queued step.
    unit.train(args.steps)?;
    let seconds = started.elapsed().as_secs_f64();
    let tokens_per_step = args.batch * (SequenceLayout::new(&config.task).sequence_len() - 1);
    let steps_per_s = args.steps as f64 / seconds;
    Ok(Measurement {
        name: name.to_string(),
        steps_per_s,
        tokens_per_s: steps_per_s * tokens_per_step as f64,
    })
}

fn torch(args: &BenchArgs, seq_len: usize, vocab: usize) -> Result<Measurement, String> {
    let output = Command::new(&args.python)
        .arg(&args.torch_script)
        .args(["--steps", &args.steps.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--seq-len", &seq_len.to_string()])
        .args(["--vocab", &vocab.to_string()])
        .output()
        .map_err(|e| format!("cannot start {}: {e}", args.python))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(format!("{} failed: {last}", args.torch_script.display()));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("unexpected PyTorch output `{line}`: {e}"))?;
    let get = |key: &str| {
        value[key]
            .as_f64()
            .ok_or_else(|| format!("PyTorch output lacks {key}"))
    };
    Ok(Measurement {
        name: format!(
            "PyTorch {} CPU, {} thread(s)",
            value["version"].as_str().unwrap_or("?"),
            value["threads"]
        ),
        steps_per_s: get("steps_per_s")?,
        tokens_per_s: get("tokens_per_s")?,
    })
}

/// A trainer of some runs (one model of K runs; a run alone is K = 1) and their data, built and
/// warmed up before the clock starts.
struct Unit {
    trainer: Trainer,
    datasets: Vec<Dataset>,
}

/// One way of training the sweep: its name, threads, and each thread's units (lists of run
/// indices, each trained as one model).
struct Way {
    name: String,
    threads: usize,
    units: Vec<Vec<Vec<usize>>>,
}

fn read<const D: usize>(loss: burn::prelude::Tensor<D>) -> Result<(), String> {
    pollster::block_on(loss.into_data_async())
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

impl Unit {
    /// `runs` (indices into `configs`) as one trainer.
    fn new(configs: &[ValidConfig], runs: &[usize], device: &Device) -> Result<Self, String> {
        let datasets = runs
            .iter()
            .map(|&i| Dataset::generate(&configs[i]).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let chosen: Vec<ValidConfig> = runs.iter().map(|&i| configs[i].clone()).collect();
        let trainer = Trainer::new(&chosen, &datasets, device).map_err(|e| e.to_string())?;
        Ok(Self { trainer, datasets })
    }

    /// `steps` steps, then one read-back (which waits for every queued step).
    fn train(&mut self, steps: usize) -> Result<(), String> {
        read(self.trainer.train_chunk(&self.datasets, steps).1)
    }
}

/// Seconds of wall time for `steps` timed steps of every unit, each thread training its units one
/// after another and the threads at once. Units are built and warmed up (`warmup` steps) before a
/// barrier starts the clock. `threads[i]` lists thread i's units, each a list of run indices.
fn time_threads(
    configs: &[ValidConfig],
    threads: &[Vec<Vec<usize>>],
    warmup: usize,
    steps: usize,
) -> Result<f64, String> {
    let barrier = Barrier::new(threads.len() + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = threads
            .iter()
            .map(|units| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let device = Device::flex();
                    let prepared = units
                        .iter()
                        .map(|runs| {
                            let mut unit = Unit::new(configs, runs, &device)?;
                            unit.train(warmup)?;
                            Ok(unit)
                        })
                        .collect::<Result<Vec<_>, String>>();
                    barrier.wait();
                    let mut prepared = prepared?;
                    for unit in &mut prepared {
                        unit.train(steps)?;
                    }
                    Ok::<_, String>(Instant::now())
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let mut ended = started;
        for handle in handles {
            let end = handle.join().map_err(|_| "a bench thread panicked")??;
            ended = ended.max(end);
        }
        Ok(ended.duration_since(started).as_secs_f64())
    })
}

/// `items` dealt round-robin to `n` lists.
fn deal<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    let mut lists = vec![Vec::new(); n.clamp(1, items.len().max(1))];
    let count = lists.len();
    for (i, item) in items.iter().enumerate() {
        lists[i % count].push(item.clone());
    }
    lists
}

fn sweep(args: &BenchArgs) -> Result<(), String> {
    let spec = preset("phase-transition")
        .ok_or("no phase-transition preset")?
        .sweep;
    let plan = Plan::new(spec).map_err(|e| e.to_string())?;
    let configs: Vec<ValidConfig> = plan.cells.iter().map(|c| c.config.clone()).collect();
    let labels: Vec<String> = plan.cells.iter().map(|c| c.labels.join("/")).collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let n = configs.len();
    let first = &configs[0];
    println!(
        "phase-transition sweep: {n} runs (rules {}), {} layers, width {}, batch {}, {} timed steps each, burn CPU (flex), {jobs} cores",
        labels.join(", "),
        first.model.layers,
        first.model.width,
        first.train.batch_size,
        args.steps
    );
    let all: Vec<usize> = (0..n).collect();
    let singles: Vec<Vec<usize>> = all.iter().map(|&i| vec![i]).collect();
    let stacks = plan_stacks(&configs, jobs, MAX_STACK);
    let sizes: Vec<String> = stacks.iter().map(|s| s.len().to_string()).collect();
    let ways = [
        Way {
            name: "one after another".into(),
            threads: 1,
            units: vec![singles.clone()],
        },
        Way {
            name: format!("stacked (1 stack of {n})"),
            threads: 1,
            units: vec![vec![all.clone()]],
        },
        Way {
            name: format!("alone, {} at a time", jobs.min(n)),
            threads: jobs.min(n),
            units: deal(&singles, jobs),
        },
        Way {
            name: format!(
                "stacked on every core ({} stacks: {})",
                stacks.len(),
                sizes.join("+")
            ),
            threads: stacks.len().min(jobs),
            units: deal(&stacks, jobs),
        },
    ];
    println!(
        "{:<44} {:>7} {:>12} {:>9}",
        "way", "threads", "run-steps/s", "vs first"
    );
    let mut baseline = None;
    let mut best = 0f64;
    for Way {
        name,
        threads,
        units,
    } in ways
    {
        let seconds = time_threads(&configs, &units, args.warmup, args.steps)?;
        let rate = (n * args.steps) as f64 / seconds;
        let base = *baseline.get_or_insert(rate);
        best = best.max(rate / base);
        println!("{name:<44} {threads:>7} {rate:>12.2} {:>8.2}x", rate / base);
    }
    println!("sweep speedup: {best:.2}x");
    Ok(())
}

/// Stacks of K runs of one model (seeds 1..=K) on each backend of `--only`: one run, then each K.
fn stacks(args: &BenchArgs) -> Result<(), String> {
    let base: ExperimentConfig = match args.model.as_str() {
        "paper" => paper_config(),
        _ => reference_config(),
    };
    let mut base = base;
    base.train.batch_size = args.batch;
    base.train.steps = base.train.steps.max(all_steps(args)?);
    println!(
        "{} model: {} layers, width {}, {} heads, FF {}, batch {}, {} timed steps",
        args.model,
        base.model.layers,
        base.model.width,
        base.model.heads,
        base.model.ff_width,
        args.batch,
        args.steps
    );
    if let Some(other) = args
        .only
        .iter()
        .find(|o| !["cpu", "wgpu"].contains(&o.as_str()))
    {
        return Err(format!(
            "--only: `{other}` has no stacks to measure (use cpu, wgpu or both)"
        ));
    }
    let mut devices = Vec::new();
    if args.only.iter().any(|o| o == "cpu") {
        let cpu = BackendChoice::Cpu.device()?;
        devices.push((
            "burn CPU (flex), 1 thread".to_string(),
            cpu.device,
            cpu.limits,
        ));
    }
    if args.only.iter().any(|o| o == "wgpu") {
        match BackendChoice::Wgpu.device() {
            Ok(selected) => devices.push((
                format!("burn {}", selected.description),
                selected.device,
                selected.limits,
            )),
            // Asked for by name: a missing adapter is an error, not a silently shorter table.
            Err(why) => return Err(format!("--only wgpu: {why}")),
        }
    }
    // Refused before anything is allocated when the largest stack cannot fit.
    let largest = args.stacks.iter().copied().max().unwrap_or(1);
    for (name, _, limits) in &devices {
        instruction_diversity::engine::memory::check_stack(&base, largest, limits)
            .map_err(|e| format!("--stacks {largest} on {name}: {e}"))?;
    }
    for (name, device, _) in devices {
        println!("{name}");
        println!(
            "{:>6} {:>12} {:>12} {:>16}",
            "runs", "ms/step", "run-steps/s", "step time vs 1"
        );
        let mut alone_ms = None;
        for count in std::iter::once(1).chain(args.stacks.iter().copied()) {
            let configs = (1..=count as u64)
                .map(|seed| {
                    let mut config = base.clone();
                    config.seed = seed;
                    config.validate().map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            let runs: Vec<usize> = (0..count).collect();
            let mut unit = Unit::new(&configs, &runs, &device)?;
            unit.train(args.warmup)?;
            let started = Instant::now();
            unit.train(args.steps)?;
            let ms = started.elapsed().as_secs_f64() * 1e3 / args.steps as f64;
            let alone = *alone_ms.get_or_insert(ms);
            println!(
                "{count:>6} {ms:>12.2} {:>12.1} {:>15.2}x",
                count as f64 * 1e3 / ms,
                ms / alone
            );
        }
    }
    Ok(())
}

/// Counts every kernel launch, by kernel name.
#[derive(Default)]
struct LaunchCount(std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>);

impl cubecl_runtime::logging::LaunchObserver for LaunchCount {
    fn launched(&self, kernel: &'static str) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(kernel).or_default() += 1;
    }
}

/// `--launches`: the kernels one training step launches on wgpu (cubecl's launch observer sees
/// each as it is issued), and the most frequent of them.
fn launches(args: &BenchArgs) -> Result<(), String> {
    let selected = BackendChoice::Wgpu
        .device()
        .map_err(|why| format!("--launches: {why}"))?;
    let config = timed_reference(args)?;
    let mut unit = Unit::new(std::slice::from_ref(&config), &[0], &selected.device)?;
    // Shader compilation (and autotuning, where it runs) first.
    unit.train(args.warmup)?;
    let counts = std::sync::Arc::new(LaunchCount::default());
    let observation = cubecl_runtime::logging::LaunchObservation::new(counts.clone());
    unit.train(args.steps)?;
    drop(observation);
    let counts = counts.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let total: usize = counts.values().sum();
    println!(
        "reference model, batch {}, {}, with burn's fusion: {} kernel launches in {} steps",
        args.batch, selected.description, total, args.steps
    );
    let mut common: Vec<(&str, usize)> = counts.into_iter().collect();
    common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (kernel, count) in common.iter().take(8) {
        println!(
            "  {:>8.1} per step  {}",
            *count as f64 / args.steps as f64,
            kernel_name(kernel)
        );
    }
    println!(
        "kernel launches per training step: {:.1}",
        total as f64 / args.steps as f64
    );
    Ok(())
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    if args.launches {
        return launches(args);
    }
    if args.sweep {
        return sweep(args);
    }
    if !args.stacks.is_empty() {
        return stacks(args);
    }
    let config = reference_config();
    let layout = SequenceLayout::new(&config.task);
    println!(
        "reference model: {} layers, width {}, {} heads, FF {}, batch {}, {} tokens per sequence, {} timed steps",
        config.model.layers,
        config.model.width,
        config.model.heads,
        config.model.ff_width,
        args.batch,
        layout.sequence_len() - 1,
        args.steps
    );
    let wanted = |name: &str| args.only.iter().any(|o| o == name);
    let mut rows = Vec::new();
    if wanted("cpu") {
        // burn's decomposed ops first (the model before the fused kernels), then the kernels.
        kernels::set_enabled(false);
        let decomposed = measure(
            "burn CPU (flex), 1 thread, burn's ops",
            &Device::flex(),
            args,
        );
        kernels::set_enabled(true);
        rows.push(decomposed?);
        rows.push(measure(
            "burn CPU (flex), 1 thread, fused kernels",
            &Device::flex(),
            args,
        )?);
    }
    if wanted("wgpu") {
        match BackendChoice::Wgpu.device() {
            Ok(selected) => rows.push(measure(
                &format!("burn {}", selected.description),
                &selected.device,
                args,
            )?),
            Err(why) => println!("skipped wgpu: {why}"),
        }
    }
    if wanted("torch") {
        match torch(args, layout.sequence_len() - 1, layout.vocab_size()) {
            Ok(m) => rows.push(m),
            Err(why) => println!("skipped PyTorch: {why} (set IDP_PYTHON to a Python with torch)"),
        }
    }
    println!("{:<44} {:>10} {:>12}", "backend", "steps/s", "tokens/s");
    for m in &rows {
        println!(
            "{:<44} {:>10.2} {:>12.0}",
            m.name, m.steps_per_s, m.tokens_per_s
        );
    }
    let decomposed = rows.iter().find(|m| m.name.ends_with("burn's ops"));
    let fused = rows.iter().find(|m| m.name.ends_with("fused kernels"));
    let torch = rows.iter().find(|m| m.name.starts_with("PyTorch"));
    if let (Some(decomposed), Some(fused)) = (decomposed, fused) {
        println!(
            "fused kernels / burn's ops: {:.2}x",
            fused.steps_per_s / decomposed.steps_per_s
        );
    }
    if let (Some(decomposed), Some(torch)) = (decomposed, torch) {
        println!(
            "burn CPU with burn's ops / PyTorch CPU: {:.2}x",
            decomposed.steps_per_s / torch.steps_per_s
        );
    }
    if let (Some(fused), Some(torch)) = (fused, torch) {
        println!(
            "burn CPU / PyTorch CPU: {:.2}x (goal: at least 1.00x)",
            fused.steps_per_s / torch.steps_per_s
        );
    }
    Ok(())
}
