//! `idp bench`: training speed of the reference model on each native backend, beside PyTorch.

use crate::backend::BackendChoice;
use burn::prelude::Device;
use instruction_diversity::engine::task::Dataset;
use instruction_diversity::engine::tokenizer::SequenceLayout;
use instruction_diversity::engine::train::Trainer;
use instruction_diversity::study::presets::reference_config;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Timed training steps per backend.
    #[arg(long, default_value_t = 200)]
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
    #[arg(long, value_delimiter = ',', default_value = "cpu,wgpu,torch")]
    only: Vec<String>,
    /// The PyTorch script.
    #[arg(long, default_value = "bench/torch_bench.py")]
    torch_script: PathBuf,
}

struct Measurement {
    name: String,
    steps_per_s: f64,
    tokens_per_s: f64,
}

fn measure(name: &str, device: &Device, args: &BenchArgs) -> Result<Measurement, String> {
    let mut config = reference_config();
    config.train.batch_size = args.batch;
    config.train.steps = args.warmup + args.steps;
    let config = config.validate().map_err(|e| e.to_string())?;
    let dataset = Dataset::generate(&config).map_err(|e| e.to_string())?;
    let mut trainer = Trainer::new(&config, &dataset, device);
    let read = |loss: burn::prelude::Tensor<1>| {
        pollster::block_on(loss.into_scalar_async::<f32>()).map_err(|e| format!("{e:?}"))
    };
    read(trainer.train_chunk(&dataset, args.warmup).1)?;
    let started = Instant::now();
    // One chunk, one readback at its end: the readback waits for every queued step.
    read(trainer.train_chunk(&dataset, args.steps).1)?;
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

pub fn run(args: &BenchArgs) -> Result<(), String> {
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
        rows.push(measure("burn CPU (flex), 1 thread", &Device::flex(), args)?);
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
    let cpu = rows.iter().find(|m| m.name.starts_with("burn CPU"));
    let torch = rows.iter().find(|m| m.name.starts_with("PyTorch"));
    if let (Some(cpu), Some(torch)) = (cpu, torch) {
        println!(
            "burn CPU / PyTorch CPU: {:.2}x (goal: at least 1.00x)",
            cpu.steps_per_s / torch.steps_per_s
        );
    }
    Ok(())
}
