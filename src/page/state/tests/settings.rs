//! Settings, presets and locks; share links, opened at start or pasted while a run trains.

use super::*;

#[test]
fn locked_settings_and_panels_refuse_changes_and_presets_keep_them() {
    let link = crate::page::link::parse(
        "v=1&I=48&lock=I,backend&hide=model",
        &PageState::default().settings.config,
    );
    let state = reduce(PageState::default(), Action::OpenLink(Box::new(link)));
    assert_eq!(state.settings.config.task.instructions, 48);
    // A locked key, and a hidden group (hidden means locked).
    let refused = reduce(state.clone(), set_action("task.instructions", 64));
    assert_eq!(refused.settings.config.task.instructions, 48);
    assert_eq!(
        refused.settings.error.as_ref().unwrap().setting,
        "task.instructions"
    );
    let refused = reduce(state.clone(), set_action("model.layers", 3));
    assert_eq!(
        refused.settings.config.model.layers,
        state.settings.config.model.layers
    );
    let allowed = reduce(state.clone(), set_action("train.steps", 500));
    assert_eq!(allowed.settings.config.train.steps, 500);
    assert!(!reduce(state.clone(), force_cpu(true)).settings.force_cpu);
    // A preset loads around the locked settings.
    let loaded = reduce(allowed.clone(), load_preset("skew"));
    let skew = preset("skew").unwrap().sweep.base;
    assert_eq!(loaded.settings.config.task.instructions, 48);
    assert_eq!(loaded.settings.config.model, state.settings.config.model);
    assert_ne!(skew.train, allowed.settings.config.train);
    assert_eq!(loaded.settings.config.train, skew.train);
    assert_eq!(loaded.settings.preset.as_deref(), Some("skew"));
    // Locking the preset menu refuses presets altogether.
    let link = crate::page::link::parse("lock=preset", &PageState::default().settings.config);
    let state = reduce(PageState::default(), Action::OpenLink(Box::new(link)));
    assert_eq!(
        reduce(state.clone(), load_preset("skew")).settings.config,
        state.settings.config
    );
}

#[test]
fn settings_are_read_only_while_anything_trains_and_say_so() {
    // The page's own run: a change that still arrives is refused with the setting named, and the
    // form keeps the values the run uses.
    let before = running();
    let width = before.settings.config.model.width;
    for action in [
        set_action("model.width", 40),
        Action::Settings(SettingsAction::SetText("model.width".into(), "40".into())),
        load_preset("phase-transition"),
    ] {
        let after = reduce(before.clone(), action);
        assert_eq!(after.settings.config, before.settings.config);
        let error = after.settings.error.as_ref().expect("an error").to_string();
        assert!(error.contains("stop it first"), "{error}");
    }
    assert_eq!(
        reduce(before.clone(), set_action("model.width", 40))
            .settings
            .error
            .clone()
            .unwrap()
            .to_string(),
        ConfigError::new(
            "model.width",
            "cannot change while a run trains: stop it first"
        )
        .to_string()
    );
    // Forcing the CPU is for the next run, and stays allowed.
    assert!(reduce(before, force_cpu(true)).settings.force_cpu);
    // Idle again, the same change applies.
    let idle = reduce(PageState::default(), set_action("model.width", 40));
    assert_eq!(idle.settings.config.model.width, 40);
    assert_ne!(width, 40);
}

#[test]
fn opening_a_link_loads_its_settings_and_may_start() {
    let mut config = PageState::default().settings.config.raw().clone();
    config.task.instructions = 64;
    let text = format!(
        "{}&run=1&preset=nope",
        crate::page::link::write(&config, None, true)
    );
    let link = crate::page::link::parse(&text, &PageState::default().settings.config);
    let (state, sent) = PageState::default().reduce(Action::OpenLink(Box::new(link)));
    assert_eq!(state.settings.config.raw(), &config);
    assert!(state.settings.force_cpu);
    assert_eq!(state.settings.preset, None);
    assert_eq!(state.run.status, RunStatus::Starting);
    assert_eq!(
        sent,
        [(
            Worker::Own,
            fresh_one(&state.settings.config, BackendPreference::Cpu)
        )]
    );
    assert_eq!(state.notices.len(), 1, "{:?}", state.notices);
    let state = reduce(state, Action::DismissNotices);
    assert!(state.notices.is_empty());
}

#[test]
fn a_link_can_open_a_lesson_which_waits_for_a_prediction() {
    let text = format!(
        "{}&lesson=no-ops&run=1",
        crate::page::link::write(&PageState::default().settings.config, None, false)
    );
    let link = crate::page::link::parse(&text, &PageState::default().settings.config);
    let (state, sent) = PageState::default().reduce(Action::OpenLink(Box::new(link)));
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(state.lesson.as_ref().unwrap().id, "no-ops");
    assert_eq!(state.notices.len(), 1, "{:?}", state.notices);
    // The link written from this page names the lesson again.
    let again =
        crate::page::link::write_with_view(&state.settings.config, None, false, &state.view);
    assert!(again.ends_with("&lesson=no-ops"), "{again}");
    let link = crate::page::link::parse("lesson=%3Cb%3E", &PageState::default().settings.config);
    let state = reduce(PageState::default(), Action::OpenLink(Box::new(link)));
    assert!(state.lesson.is_none());
    assert!(state.notices[0].contains("unknown lesson `<b>`"));
    // A link's notices say they are the link's; a reload's (see `restore`) do not.
    assert!(
        state.notices[0].starts_with("the link: "),
        "{:?}",
        state.notices
    );
}

/// A link changed in the address bar opens at once when nothing trains; while a run trains it waits
/// for the reader: open it now (the run stops), once the run ends, or forget it.
#[test]
fn a_link_pasted_into_the_open_tab_opens_or_waits_for_the_readers_choice() {
    let base = PageState::default().settings.config.raw().clone();
    let link = |text: &str| Box::new(crate::page::link::parse(text, &base));
    let idle = reduce(
        PageState::default(),
        Action::LinkChanged(link("v=1&I=12&seed=8")),
    );
    assert_eq!(
        (
            idle.settings.config.task.instructions,
            idle.settings.config.seed
        ),
        (12, 8)
    );
    assert!(idle.pending_link.is_none());
    // While a run trains: held, the settings unchanged.
    let busy = reduce(running(), Action::LinkChanged(link("v=1&I=12&seed=8")));
    assert!(busy.pending_link.is_some());
    assert_eq!(
        busy.settings.config.task.instructions,
        base.task.instructions
    );
    assert_eq!(busy.run.status, RunStatus::Running);
    // Forget: nothing changes.
    let kept = reduce(busy.clone(), Action::PendingLink(PendingChoice::Forget));
    assert!(kept.pending_link.is_none());
    assert_eq!(kept.run.status, RunStatus::Running);
    // Open now: the run stops and the link opens (and starts, when it says so: the stop first).
    let (now, sent) = busy
        .clone()
        .reduce(Action::PendingLink(PendingChoice::OpenNow));
    assert_eq!(sent, [(Worker::Own, Command::Stop)]);
    assert_eq!(now.settings.config.task.instructions, 12);
    assert_eq!(now.run.status, RunStatus::Idle);
    let starting = reduce(running(), Action::LinkChanged(link("v=1&I=12&run=1")));
    let (started, sent) = starting.reduce(Action::PendingLink(PendingChoice::OpenNow));
    assert_eq!(
        sent,
        [
            (Worker::Own, Command::Stop),
            (
                Worker::Own,
                fresh_one(&started.settings.config, BackendPreference::Auto)
            )
        ]
    );
    assert_eq!(started.run.config.as_ref().unwrap().task.instructions, 12);
    // Open once the run ends: still held while it trains, opened when it finishes.
    let later = reduce(busy, Action::PendingLink(PendingChoice::OpenAfter));
    assert!(later.pending_link.as_ref().unwrap().deferred);
    assert_eq!(
        later.settings.config.task.instructions,
        base.task.instructions
    );
    let (ended, _) = finish_run(later.clone(), 0.5);
    assert!(ended.pending_link.is_none());
    assert_eq!(ended.settings.config.task.instructions, 12);
    // A run that diverges ends too: the link opens, though the worker is told to stop (the runs
    // trained with it would go on otherwise).
    let (diverged, sent) = later.reduce(Action::Worker(failed(0, "the loss became NaN")));
    assert!(diverged.pending_link.is_none());
    assert_eq!(diverged.settings.config.task.instructions, 12);
    assert_eq!(own(&sent), [Command::Stop]);
}

#[test]
fn the_settings_summary_names_the_preset_or_the_open_lesson_whose_settings_the_form_holds() {
    let state = reduce(PageState::default(), load_preset("skew"));
    assert_eq!(state.settings_origin(), preset("skew").unwrap().title);
    // The primary lesson loads its own settings (not a preset's): the summary names the lesson...
    let opened = reduce(
        PageState::default(),
        open_lesson(Some("phase-transition".into())),
    );
    assert_eq!(opened.settings_origin(), "Lesson: The phase transition");
    // ...until a setting moves away from them, or the lesson closes.
    let changed = reduce(opened.clone(), set_action("train.steps", 500));
    assert_eq!(changed.settings_origin(), "Custom");
    assert_eq!(
        reduce(opened, open_lesson(None)).settings_origin(),
        "Custom"
    );
}
