//! `idp ablate`: evaluates kept models (checkpoints of `idp run --save` or `idp sweep
//! --keep-models`) with every head and with some silenced, and prints what each run loses, then
//! the mechanism table over the runs (mean and range per number of rules).

use crate::backend::Selected;
use instruction_diversity::engine::checkpoint::Checkpoint;
use instruction_diversity::engine::eval::{ablation_pair, head_scores};
use instruction_diversity::engine::mechanism::Measure;
use instruction_diversity::engine::model::Ablation;
use instruction_diversity::engine::stack::Stack;
use instruction_diversity::study::mechanism::{Ablated, runs_table, summary_table};
use std::path::{Path, PathBuf};

/// Which heads to silence.
#[derive(Clone, Debug)]
pub enum Silence {
    /// These heads, as `layer.head,...`, in every run.
    Heads(String),
    /// Each run's head that scores highest on this measure on held-out rules.
    Best(Measure),
}

/// Checks, before anything is trained, that `path` can keep the trained model of `configs`
/// (`idp run --save`): a file that holds these runs is gone on from; anything else there (another
/// run's model, any other file) is refused rather than overwritten, as is a folder, a missing
/// folder or one that cannot be written.
///
/// # Errors
/// Naming the path and why.
pub fn check_save_path(
    path: &Path,
    configs: &[instruction_diversity::engine::config::ValidConfig],
) -> Result<(), String> {
    let shown = path.display();
    if path.is_dir() {
        return Err(format!("--save: {shown} is a folder; name a file"));
    }
    if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| format!("--save: cannot read {shown}: {e}"))?;
        return match Checkpoint::from_bytes(&bytes) {
            Ok(checkpoint) if checkpoint.holds(configs) => Ok(()),
            Ok(_) => Err(format!(
                "--save: {shown} holds the model of other runs; it is left as it is: name another file"
            )),
            Err(_) => Err(format!(
                "--save: {shown} exists and is not a checkpoint; it is left as it is: name another file"
            )),
        };
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(format!(
            "--save: the folder {} does not exist",
            folder.display()
        ));
    }
    // Written once, removed: a folder that cannot be written fails now, not after training.
    let probe = folder.join(format!(".idp-save-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| format!("--save: cannot write in {}: {e}", folder.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Checks that the model kept in `path` after a run is there and trained `step` steps.
///
/// # Errors
/// Naming the path, when the model was not kept.
pub fn check_saved(path: &Path, step: usize) -> Result<(), String> {
    let kept = std::fs::read(path)
        .ok()
        .and_then(|bytes| Checkpoint::from_bytes(&bytes).ok())
        .map(|c| c.step());
    match kept {
        Some(s) if s == step => Ok(()),
        _ => Err(format!(
            "--save: the trained model could not be kept in {} (see the line above)",
            path.display()
        )),
    }
}

/// Refuses a `--json` path that is one of the models read, or a checkpoint (a shell glob such as
/// `models/*` puts one there): the JSON would replace a kept model.
///
/// # Errors
/// Naming the path.
pub fn check_json_path(json: &Path, files: &[PathBuf]) -> Result<(), String> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let is_checkpoint = std::fs::read(json)
        .ok()
        .is_some_and(|bytes| Checkpoint::from_bytes(&bytes).is_ok());
    if files.iter().any(|f| same(f, json)) || is_checkpoint {
        return Err(format!(
            "--json: {} is a kept model; it is left as it is: name another file",
            json.display()
        ));
    }
    Ok(())
}

/// Ablates every run of every checkpoint in `files` (a file named twice counts once); returns the
/// rows in the files' order, and the first failure after them: the rows of the files read before
/// it are still shown.
pub fn ablate(
    files: &[PathBuf],
    silence: &Silence,
    selected: &Selected,
) -> (Vec<Ablated>, Option<String>) {
    let mut rows = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for path in files {
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        match ablate_file(path, silence, selected) {
            Ok(more) => rows.extend(more),
            Err(e) => return (rows, Some(format!("{}: {e}", path.display()))),
        }
    }
    (rows, None)
}

fn ablate_file(
    path: &Path,
    silence: &Silence,
    selected: &Selected,
) -> Result<Vec<Ablated>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let checkpoint = Checkpoint::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let stack = Stack::resume(checkpoint, &selected.device).map_err(|e| e.to_string())?;
    if !stack.is_finished() {
        eprintln!(
            "{}: trained {} of {} steps (an interrupted run): ablating it as it is",
            path.display(),
            stack.step(),
            stack.total_steps()
        );
    }
    let (layout, device) = (*stack.layout(), stack.inference_device());
    let mut rows = Vec::with_capacity(stack.len());
    for k in 0..stack.len() {
        let config = stack.config(k).raw();
        let model = stack.inference_model(k);
        let dataset = stack.dataset(k);
        let step = stack.step();
        let backend = |e: instruction_diversity::engine::eval::BackendError| e.to_string();
        let ablation = match silence {
            Silence::Heads(text) => Ablation::parse(text, config.model.layers, config.model.heads)?,
            Silence::Best(measure) => {
                // The head scores alone find the best head (as the whole evaluation measures them).
                let scores = pollster::block_on(head_scores(&model, &layout, &[dataset], &device))
                    .map_err(backend)?;
                let [_, unseen] = &scores[0];
                let (layer, head, _) = unseen.best(*measure).ok_or_else(|| {
                    if config.task.program.is_single_rule() {
                        format!(
                            "--best {}: the held-out examples have no case of it",
                            measure.name()
                        )
                    } else {
                        format!(
                            "--best {}: head scores follow one rule's letters, and this run's instructions are programs; name the heads with --heads",
                            measure.name()
                        )
                    }
                })?;
                Ablation {
                    heads: vec![(layer, head)],
                }
            }
        };
        let (whole, ablated) = pollster::block_on(ablation_pair(
            &model, &ablation, &layout, dataset, step, None, &device,
        ))
        .map_err(backend)?;
        rows.push(Ablated::of(config, step, &ablation, whole, &ablated)?);
    }
    Ok(rows)
}

/// Prints the rows and the summary, and writes them as JSON when asked.
///
/// # Errors
/// When the JSON file cannot be written.
pub fn report(rows: &[Ablated], json: Option<&Path>) -> Result<(), String> {
    println!("{}", runs_table(rows));
    println!("{}", summary_table(rows));
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(rows).expect("ablations serialize");
        crate::files::write_atomically(path, text.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
