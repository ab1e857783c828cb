use super::*;
use crate::engine::config::ExperimentConfig;
use crate::engine::metrics::LossPoint;
use crate::study::sweep::Axis;
use proptest::prelude::*;

const BUILD: &str = "0123456789abcdef";

fn spec() -> SweepSpec {
    let mut base = ExperimentConfig::default();
    base.train.steps = 40;
    base.train.warmup_steps = 2;
    base.train.eval_every = 20;
    SweepSpec {
        base,
        axes: vec![
            Axis::values("instructions", "task.instructions", [4usize, 16, 64]),
            Axis::examples_per_rule([5, 20]),
        ],
        seeds: vec![1, 2],
    }
}

fn class() -> ClassPlan {
    ClassPlan::new(spec(), BUILD).unwrap()
}

/// A full result of `cell`, as a page would send it.
fn result(
    class: &ClassPlan,
    cell: usize,
    seen: f64,
    unseen: f64,
    fingerprint: &str,
) -> ClassResult {
    let config = class.cell(cell).unwrap().raw().clone();
    let summary = EvalSummary {
        step: config.train.steps,
        seen_accuracy: seen,
        unseen_accuracy: unseen,
        unseen_hasop_accuracy: unseen / 2.0,
        noop_accuracy: 1.0,
        composed_accuracy: None,
    };
    let record = RunRecord {
        labels: Vec::new(),
        instructions: config.task.instructions,
        examples_per_rule: 5.0,
        rules_with_examples: config.task.instructions,
        steps: config.train.steps,
        result: summary,
        final_loss: 0.5,
        losses: vec![LossPoint {
            step: config.train.steps,
            loss: 0.5,
        }],
        evaluations: vec![summary],
        inside: Vec::new(),
        seen_rules: Vec::new(),
        unseen_rules: Vec::new(),
        wall_seconds: 12.34,
        config,
    };
    ClassResult::new(class, cell, BUILD, fingerprint, "CPU (wasm)", record).unwrap()
}

#[test]
fn a_class_plan_is_named_by_its_sweep_and_reads_back() {
    let a = class();
    assert_eq!(a.len(), 12);
    assert_eq!(a.id.len(), 8);
    assert_eq!(a.id, ClassPlan::new(spec(), "other").unwrap().id);
    let mut other = spec();
    other.seeds = vec![1, 3];
    assert_ne!(a.id, ClassPlan::new(other, BUILD).unwrap().id);
    assert_eq!(ClassPlan::from_json(&a.to_json()).unwrap(), a);
    let edited = a.to_json().replace(&a.id, "AAAAAAAA");
    assert!(matches!(
        ClassPlan::from_json(&edited),
        Err(ClassError::WrongId { .. })
    ));
    let wrong = a.to_json().replace(CLASS_FORMAT, "idp-class/9");
    assert!(
        ClassPlan::from_json(&wrong)
            .unwrap_err()
            .to_string()
            .contains("idp-class/9")
    );
}

#[test]
fn the_canary_is_cell_zero_shortened() {
    let a = class();
    let canary = a.canary();
    assert_eq!(canary.train.steps, 10);
    assert_eq!(canary.task, a.cell(0).unwrap().task);
}

#[test]
fn a_result_of_another_class_build_cell_or_settings_is_refused_by_name() {
    let a = class();
    let good = result(&a, 3, 0.9, 0.2, "ed16-2e18");
    assert_eq!(a.check(&good), Ok(()));
    let mut other = good.clone();
    other.class = "BBBBBBBB".into();
    assert!(matches!(
        a.check(&other),
        Err(ClassError::OtherClass { .. })
    ));
    let mut stale = good.clone();
    stale.build = "fedcba9876543210".into();
    let e = a.check(&stale).unwrap_err();
    assert!(matches!(e, ClassError::StaleBuild { .. }));
    assert!(e.to_string().contains("reload the page"), "{e}");
    let mut far = good.clone();
    far.cell = 12;
    assert!(matches!(a.check(&far), Err(ClassError::NoSuchCell { .. })));
    let mut edited = good.clone();
    edited.record.config.train.learning_rate *= 2.0;
    assert_eq!(a.check(&edited), Err(ClassError::OtherSettings(3)));
    let mut edited = good.clone();
    edited.settings = "00000000".into();
    assert_eq!(a.check(&edited), Err(ClassError::OtherSettings(3)));
    let mut damaged = good;
    damaged.record.result.unseen_accuracy = 1.5;
    assert!(matches!(a.check(&damaged), Err(ClassError::Damaged { .. })));
}

#[test]
fn a_result_code_is_short_and_reads_back_to_the_same_result() {
    let a = class();
    let full = result(&a, 7, 0.875, 0.25, "ed16-2e18");
    let code = ResultCode::of(&full);
    let text = code.text();
    assert!(text.starts_with("IDP1-"), "{text}");
    assert!(text.len() <= 68, "{} characters: {text}", text.len());
    assert_eq!(ResultCode::parse(&text).unwrap(), code);
    // As people paste it: lower case, no dashes, broken over lines, inside a link.
    let bare: String = text.chars().filter(|c| *c != '-').collect();
    assert_eq!(ResultCode::parse(&bare.to_lowercase()).unwrap(), code);
    let broken = format!("{}\n  {}", &text[..30], &text[30..]);
    assert_eq!(ResultCode::parse(&broken).unwrap(), code);
    let link = format!("http://x/#class=1&result={text}&seat=3");
    assert_eq!(ResultCode::parse(&link).unwrap(), code);
    let back = code.result(&a).unwrap();
    assert_eq!(back.cell, 7);
    assert_eq!(back.fingerprint, "ed16-2e18");
    assert_eq!(back.record.config, full.record.config);
    assert_eq!(back.record.labels, a.plan.cells[7].labels);
    assert!((back.record.result.seen_accuracy - 0.875).abs() < 1e-4);
    assert!((back.record.result.unseen_accuracy - 0.25).abs() < 1e-4);
    assert!((back.record.wall_seconds - 12.3).abs() < 1e-9);
    assert_eq!(back.backend, "CPU");
    // The code of what a code reads back is the code.
    assert_eq!(ResultCode::of(&back), code);
    assert!(back.agrees_with(&full));
}

#[test]
fn an_edited_or_cut_code_is_refused_with_why() {
    let a = class();
    let text = ResultCode::of(&result(&a, 2, 0.5, 0.5, "0000-0001")).text();
    // Every single letter changed, anywhere in the code, fails its checksum.
    let letters: Vec<char> = text.chars().collect();
    for at in 5..letters.len() {
        if letters[at] == '-' {
            continue;
        }
        let mut changed = letters.clone();
        changed[at] = if letters[at] == 'A' { 'B' } else { 'A' };
        let changed: String = changed.into_iter().collect();
        let e = ResultCode::parse(&changed).unwrap_err();
        assert!(matches!(e, ClassError::BadCode { .. }), "{changed}: {e}");
    }
    let cut = &text[..text.len() - 6];
    assert!(
        ResultCode::parse(cut)
            .unwrap_err()
            .to_string()
            .contains("cut short")
    );
    assert!(
        ResultCode::parse("hello")
            .unwrap_err()
            .to_string()
            .contains("IDP1")
    );
    assert!(ResultCode::parse("IDP1-0189").is_err());
}

#[test]
fn pasted_codes_are_read_line_by_line_and_the_refused_named() {
    let a = class();
    let codes: Vec<String> = (0..12)
        .map(|c| ResultCode::of(&result(&a, c, 0.9, c as f64 / 12.0, "aaaa-bbbb")).text())
        .collect();
    let mut other = spec();
    other.seeds = vec![5];
    let b = ClassPlan::new(other, BUILD).unwrap();
    let foreign = ResultCode::of(&result(&b, 0, 0.5, 0.5, "aaaa-bbbb")).text();
    // Broken by spaces, as some chats break long words.
    let spaced = codes[2].replacen('-', " ", 3);
    let text = format!(
        "Ana: {}\n\n{} {} thanks\nhttp://h/#result={}\n{}\n{}\n{}",
        codes[0],
        codes[1],
        spaced,
        codes[3],
        codes[4..].join("\n"),
        foreign,
        "IDP1-garbage"
    );
    let pasted = read_codes(&text, &a);
    assert_eq!(pasted.results.len(), 12);
    assert_eq!(pasted.refused.len(), 2);
    assert!(matches!(pasted.refused[0].1, ClassError::OtherClass { .. }));
    assert!(matches!(pasted.refused[1].1, ClassError::BadCode { .. }));
    let mut book = ClassBook::new();
    for r in pasted.results {
        book.add(r);
    }
    assert_eq!(
        book.tallies(a.len()),
        Tallies {
            done: 12,
            missing: 0,
            disputed: 0,
            results: 12
        }
    );
    let report = a.report(&book);
    assert_eq!(report.runs.len(), 12);
    assert_eq!(report.spec, a.plan.spec);
    // A report made from codes survives its JSON file (a code has no loss: NaN, written null).
    let back = SweepReport::from_json(&report.to_json()).unwrap();
    assert_eq!(back.runs.len(), 12);
}

#[test]
fn duplicates_are_kept_once_and_disagreements_are_kept_and_flagged() {
    let a = class();
    let mut book = ClassBook::new();
    let first = result(&a, 1, 0.9, 0.3, "aaaa-0001");
    assert_eq!(book.add(first.clone()), Added::First);
    assert_eq!(book.add(first.clone()), Added::Duplicate);
    // The same result as a code is the same result.
    let code = ResultCode::of(&first).result(&a).unwrap();
    assert_eq!(book.add(code), Added::Duplicate);
    assert_eq!(book.tallies(a.len()).results, 1);
    // The full record is the one kept, whichever came first.
    assert_eq!(book.results().next().unwrap(), &first);
    // A replay on another device: other answers, close accuracies.
    assert_eq!(
        book.add(result(&a, 1, 0.88, 0.32, "aaaa-0002")),
        Added::Agrees
    );
    assert_eq!(book.status(1), CellStatus::Done);
    // A result far from them: kept, and the cell flagged.
    assert_eq!(
        book.add(result(&a, 1, 0.9, 0.95, "aaaa-0003")),
        Added::Disagrees
    );
    assert_eq!(book.status(1), CellStatus::Disputed);
    assert_eq!(book.disputed(), vec![1]);
    assert_eq!(
        book.tallies(a.len()),
        Tallies {
            done: 0,
            missing: 11,
            disputed: 1,
            results: 3
        }
    );
}

#[test]
fn results_file_lines_read_back() {
    let a = class();
    let r = result(&a, 4, 0.5, 0.25, "1234-5678");
    assert_eq!(ClassResult::from_line(&r.to_line()).unwrap(), r);
    let typo = r.to_line().replace("\"fingerprint\"", "\"fingerprnt\"");
    assert!(
        ClassResult::from_line(&typo)
            .unwrap_err()
            .to_string()
            .contains("fingerprnt")
    );
}

#[test]
fn a_qr_code_is_an_svg() {
    let svg = qr_svg("http://192.168.1.20:8000/#class=join", 200).unwrap();
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "{}",
        &svg[..40]
    );
    assert!(svg.contains("<path") || svg.contains("<rect"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any result reads back from its code to the same code, with accuracies within 1/65535.
    #[test]
    fn codes_round_trip(
        cell in 0usize..12,
        seen in 0.0f64..=1.0,
        unseen in 0.0f64..=1.0,
        print in any::<u32>(),
        seconds in 0.0f64..100_000.0,
    ) {
        let a = class();
        let fingerprint = format!("{:04x}-{:04x}", print >> 16, print & 0xffff);
        let mut r = result(&a, cell, seen, unseen, &fingerprint);
        r.record.wall_seconds = seconds;
        let code = ResultCode::of(&r);
        let parsed = ResultCode::parse(&code.text()).unwrap();
        prop_assert_eq!(&parsed, &code);
        let back = parsed.result(&a).unwrap();
        prop_assert_eq!(back.cell, cell);
        prop_assert_eq!(&back.fingerprint, &fingerprint);
        prop_assert!((back.record.result.seen_accuracy - seen).abs() <= 1.0 / 65535.0);
        prop_assert!((back.record.result.unseen_accuracy - unseen).abs() <= 1.0 / 65535.0);
        prop_assert_eq!(ResultCode::of(&back), code);
    }

    /// Merging is order-free and idempotent: the same results, shuffled and repeated, make the
    /// same book.
    #[test]
    fn merging_is_order_free_and_idempotent(
        picks in proptest::collection::vec((0usize..12, 0u8..3, any::<bool>()), 1..30),
        seed in any::<u64>(),
    ) {
        let a = class();
        let results: Vec<ClassResult> = picks
            .iter()
            .map(|&(cell, variant, as_code)| {
                let unseen = [0.2, 0.25, 0.9][usize::from(variant)];
                let r = result(&a, cell, 0.8, unseen, &format!("000{variant}-0000"));
                if as_code { ResultCode::of(&r).result(&a).unwrap() } else { r }
            })
            .collect();
        let mut book = ClassBook::new();
        for r in &results {
            book.add(r.clone());
        }
        let mut shuffled: Vec<ClassResult> = results.iter().chain(&results).cloned().collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut shuffled);
        let mut other = ClassBook::new();
        for r in shuffled {
            other.add(r);
        }
        // (As JSON lines: a record read from a code has a NaN loss, which equals nothing.)
        let lines = |b: &ClassBook| b.results().map(ClassResult::to_line).collect::<Vec<_>>();
        prop_assert_eq!(lines(&book), lines(&other));
        prop_assert_eq!(book.tallies(12), other.tallies(12));
        prop_assert_eq!(a.report(&book).to_json(), a.report(&other).to_json());
    }
}
