//! Share links: every setting, the seed and a format version in the URL fragment.
//!
//! The settings table ([`crate::engine::settings::SETTINGS`]) drives both writing and parsing: each
//! setting has a link key and a text codec. Links always carry every key, so a link replays the same
//! run even after the page's defaults change. Parsing never fails: an unknown key, a malformed value,
//! or a value the config rejects falls back to the default for that setting and adds a
//! [`Link::notices`] line the page shows.
//!
//! Format history (keep every old version opening):
//! - `v=1`: the first format. `hide`, `lock` and `embed` were added within it: links without them
//!   open as before.

use crate::engine::config::{ConfigError, ExperimentConfig};
use crate::engine::settings::{Group, SETTINGS, Setting, by_key, get_path, set_path, shorten};
use crate::page::state::sweep::SweepForm;
use crate::study::sweep::SweepSetting;
use serde_json::Value;
use std::fmt::Write as _;

/// The format version written into new links.
pub const FORMAT_VERSION: u32 = 1;

/// Page-level keys beside the settings.
const VERSION_KEY: &str = "v";
const PRESET_KEY: &str = "preset";
const RUN_KEY: &str = "run";
const BACKEND_KEY: &str = "backend";
const HIDE_KEY: &str = "hide";
const LOCK_KEY: &str = "lock";
const EMBED_KEY: &str = "embed";
const LESSON_KEY: &str = "lesson";
const SWEEP_KEY: &str = "sweep";
const SWEEP2_KEY: &str = "sweep2";
const SEEDS_KEY: &str = "seeds";
const CLASS_KEY: &str = "class";
const HUB_KEY: &str = "hub";
const SEAT_KEY: &str = "seat";
const TEACH_KEY: &str = "teach";
const TEACHER_KEY_KEY: &str = "key";

/// Panels of the page a teacher can hide (`settings` is the whole settings column, `preset` the preset
/// menu, `backend` the force-CPU switch, `results` export and import, `lessons` the guided lessons,
/// `sweep` the sweep builder and its views, `inspector` the per-rule view, `try` try-your-own and
/// attention, `inside` the view inside the model, `compare` the runs list). Locking `preset`, `backend` or `results` disables them; the
/// other panels can only be hidden.
pub const PANELS: &[&str] = &[
    "settings",
    "preset",
    "backend",
    "share",
    "results",
    "charts",
    "predictions",
    "lessons",
    "sweep",
    "inspector",
    "try",
    "inside",
    "compare",
];

/// What a teacher's link hides or locks, and whether the page is embedded in another one.
///
/// Controls are named by their link key (`lr`, `I`, ...), their group ([`Group::name`]) or a panel
/// ([`PANELS`]): `hide=model,lr&lock=I&embed=1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// Controls and panels not shown.
    pub hidden: std::collections::BTreeSet<String>,
    /// Controls shown but not editable.
    pub locked: std::collections::BTreeSet<String>,
    /// A compact layout for an iframe.
    pub embed: bool,
    /// The lesson the page opens with (a teacher's pick), as the link names it.
    pub lesson: Option<String>,
}

impl View {
    /// Whether a panel, or the setting at a dotted config path, is hidden.
    pub fn hides(&self, control: &str) -> bool {
        names_of(control).iter().any(|n| self.hidden.contains(*n))
    }

    /// Whether a panel, or the setting at a dotted config path, is locked (hidden ones count as locked).
    pub fn locks(&self, control: &str) -> bool {
        self.hides(control) || names_of(control).iter().any(|n| self.locked.contains(*n))
    }
}

/// The names a control answers to: a panel its own name; a setting (a dotted config path, possibly
/// inside a key's value, like `task.x_len.min`) its link key, its group, and `settings`.
fn names_of(control: &str) -> Vec<&str> {
    match crate::engine::settings::setting(control) {
        Some(s) => vec![s.key, s.group.name(), "settings"],
        None => vec![control],
    }
}

impl View {
    /// A teacher's view from typed lists of names (commas or spaces between them), over `self`; the
    /// names it does not know are returned.
    pub fn with_lists(&self, hide: &str, lock: &str, embed: bool) -> (View, Vec<String>) {
        let mut view = self.clone();
        view.embed |= embed;
        let mut unknown = Vec::new();
        for (list, into) in [(hide, &mut view.hidden), (lock, &mut view.locked)] {
            for name in list.split([',', ' ']).filter(|n| !n.is_empty()) {
                if is_control_name(name) {
                    into.insert(name.to_string());
                } else {
                    unknown.push(shorten(name));
                }
            }
        }
        (view, unknown)
    }
}

/// Every name `hide=` and `lock=` accept: setting keys, groups, then panels.
pub fn control_names() -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .chain(Group::ALL.iter().map(|g| g.name()))
        .chain(PANELS.iter().copied())
}

/// Whether a name can appear in `hide=` or `lock=`.
fn is_control_name(name: &str) -> bool {
    control_names().any(|n| n == name)
}

/// What a link opens.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The settings (always valid).
    pub config: ExperimentConfig,
    /// The preset the settings came from, as the link names it (the page checks it exists).
    pub preset: Option<String>,
    /// Start the run as soon as the page opens.
    pub autostart: bool,
    /// Train on the CPU even where WebGPU exists.
    pub force_cpu: bool,
    /// What the link hides or locks, and whether the page is embedded.
    pub view: View,
    /// A sweep the link carries (`sweep=instructions:4,16,64&sweep2=per-rule:5,20&seeds=2`), checked
    /// over the link's settings; with `run=1` the page starts the sweep rather than one run.
    pub sweep: Option<SweepForm>,
    /// A class the link joins or teaches (`class=join`, `class=teach`, or `class=<id>` with the
    /// sweep in the link), see [`ClassLink`].
    pub class: Option<ClassLink>,
    /// What was ignored or replaced by a default, one line each, for the page to show.
    pub notices: Vec<String>,
}

/// Who opens a class link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassRole {
    /// A student: trains cells and hands in results.
    Student,
    /// The teacher: sees the class's phase diagram fill.
    Teacher,
}

/// What a class link asks for. With a hub (`class=join` or `class=teach`, the hub being the page's
/// own server unless `hub=<url>` names another) the page gets the plan and the cells from it;
/// without (`class=<id>`, the sweep in the link's `sweep`, `sweep2` and `seeds`) it trains the cell
/// of its seat (or one at random) and shows a result code, and the teacher's page (`teach=1`)
/// takes the codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassLink {
    /// Student or teacher.
    pub role: ClassRole,
    /// The hub's address (`None`: none; `Some("")`: the server of this page).
    pub hub: Option<String>,
    /// The class's identifier, which the link's sweep must give (codes without a hub).
    pub id: Option<String>,
    /// The student's seat number (from 1): the cell it trains, without a hub.
    pub seat: Option<usize>,
    /// The teacher's key at the hub (`key=`, in the dashboard's link `idp class` prints): it
    /// shows the students' names and lets the dashboard add pasted codes.
    pub key: Option<String>,
}

/// The link keys of a class over its sweep's link (`write_with_view` + [`write_sweep`]): for a
/// student, or for the teacher's page that takes the codes.
pub fn write_class(id: &str, role: ClassRole) -> String {
    match role {
        ClassRole::Student => format!("&{CLASS_KEY}={}", encode(id)),
        ClassRole::Teacher => format!("&{CLASS_KEY}={}&{TEACH_KEY}=1", encode(id)),
    }
}

/// The whole fragment of a class without a hub: its sweep's settings and axes, the class's
/// identifier, the role and the seat; `None` when a link cannot carry the sweep (more than two
/// axes, or an axis the sweep builder does not offer).
pub fn class_fragment(
    class: &crate::study::class::ClassPlan,
    role: ClassRole,
    seat: Option<usize>,
) -> Option<String> {
    let form = SweepForm::of(&class.plan.spec)?;
    let mut out = write_with_view(&class.plan.spec.base, None, false, &View::default());
    out.push_str(&write_sweep(&form));
    out.push_str(&write_class(&class.id, role));
    if let Some(seat) = seat {
        let _ = write!(out, "&{SEAT_KEY}={seat}");
    }
    Some(out)
}

/// The link keys of a class with a hub (`&class=join`, `&class=teach`, `&hub=` when the hub is
/// not the page's server, and the teacher's `&key=`), to append to the page's own link.
pub fn write_hub_class(role: ClassRole, hub: &str, key: Option<&str>) -> String {
    let mut out = match role {
        ClassRole::Student => format!("&{CLASS_KEY}=join"),
        ClassRole::Teacher => format!("&{CLASS_KEY}=teach"),
    };
    if !hub.is_empty() {
        let _ = write!(out, "&{HUB_KEY}={}", encode(hub));
    }
    if let Some(key) = key {
        let _ = write!(out, "&{TEACHER_KEY_KEY}={}", encode(key));
    }
    out
}

/// The link keys of a sweep, to append to a link written by [`write_with_view`].
pub fn write_sweep(form: &SweepForm) -> String {
    let mut out = format!(
        "&{SWEEP_KEY}={}:{}",
        form.first.id(),
        encode(&compact_values(&form.first_values))
    );
    if let Some(second) = form.second {
        let _ = write!(
            out,
            "&{SWEEP2_KEY}={}:{}",
            second.id(),
            encode(&compact_values(&form.second_values))
        );
    }
    let _ = write!(out, "&{SEEDS_KEY}={}", encode(form.seeds.trim()));
    out
}

/// Typed values with commas only, so a link stays free of `%20`.
fn compact_values(text: &str) -> String {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// The link fragment (without `#`) for these settings.
pub fn write(config: &ExperimentConfig, preset: Option<&str>, force_cpu: bool) -> String {
    write_with_view(config, preset, force_cpu, &View::default())
}

/// The link fragment (without `#`) for these settings, seen through a teacher's [`View`].
pub fn write_with_view(
    config: &ExperimentConfig,
    preset: Option<&str>,
    force_cpu: bool,
    view: &View,
) -> String {
    let value = serde_json::to_value(config).expect("configs serialize");
    let mut out = format!("{VERSION_KEY}={FORMAT_VERSION}");
    if let Some(preset) = preset {
        let _ = write!(out, "&{PRESET_KEY}={}", encode(preset));
    }
    for s in SETTINGS {
        if let Some(text) = get_path(&value, s.path).and_then(|v| s.write(v)) {
            let _ = write!(out, "&{}={}", s.key, encode(&text));
        }
    }
    if force_cpu {
        let _ = write!(out, "&{BACKEND_KEY}=cpu");
    }
    for (key, names) in [(HIDE_KEY, &view.hidden), (LOCK_KEY, &view.locked)] {
        if !names.is_empty() {
            let list = names.iter().map(|n| encode(n)).collect::<Vec<_>>();
            let _ = write!(out, "&{key}={}", list.join(","));
        }
    }
    if view.embed {
        let _ = write!(out, "&{EMBED_KEY}=1");
    }
    if let Some(lesson) = &view.lesson {
        let _ = write!(out, "&{LESSON_KEY}={}", encode(lesson));
    }
    out
}

/// Reads a link fragment or query (a leading `#` or `?` is skipped) over `base`. Never fails: what it
/// cannot use is reported in [`Link::notices`].
pub fn parse(text: &str, base: &ExperimentConfig) -> Link {
    let text = text.trim_start_matches(['#', '?']);
    let mut notices = Vec::new();
    let mut link = Link {
        config: base.clone(),
        preset: None,
        autostart: false,
        force_cpu: false,
        view: View::default(),
        sweep: None,
        class: None,
        notices: Vec::new(),
    };
    let mut class: Option<String> = None;
    let mut hub: Option<String> = None;
    let mut seat: Option<usize> = None;
    let mut teach = false;
    let mut key: Option<String> = None;
    let mut sweep_axes: [Option<String>; 2] = [None, None];
    let mut sweep_seeds = None;
    // The settings the link gives, by config path, in table order; later duplicates win.
    let mut given: Vec<(&'static Setting, Value)> = Vec::new();
    let mut version = None;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(name), Some(value)) = (decode(raw_key), decode(raw_value)) else {
            notices.push(format!(
                "ignored `{}`: it is not valid percent-encoding",
                shorten(pair)
            ));
            continue;
        };
        match name.as_str() {
            VERSION_KEY => match value.parse::<u32>() {
                Ok(v) => version = Some(v),
                Err(_) => notices.push(format!(
                    "ignored the format version `{}`: not a number",
                    shorten(&value)
                )),
            },
            PRESET_KEY => link.preset = Some(value),
            RUN_KEY => link.autostart = matches!(value.as_str(), "1" | "true" | "yes"),
            HIDE_KEY | LOCK_KEY => {
                for control in value.split(',').filter(|c| !c.is_empty()) {
                    if !is_control_name(control) {
                        notices.push(format!(
                            "ignored unknown control `{}` in `{name}`",
                            shorten(control)
                        ));
                    } else if name == HIDE_KEY {
                        link.view.hidden.insert(control.to_string());
                    } else {
                        link.view.locked.insert(control.to_string());
                    }
                }
            }
            EMBED_KEY => link.view.embed = matches!(value.as_str(), "1" | "true" | "yes"),
            LESSON_KEY => link.view.lesson = Some(value),
            SWEEP_KEY => sweep_axes[0] = Some(value),
            SWEEP2_KEY => sweep_axes[1] = Some(value),
            SEEDS_KEY => sweep_seeds = Some(value),
            CLASS_KEY => class = Some(value),
            HUB_KEY => hub = Some(value),
            TEACH_KEY => teach = matches!(value.as_str(), "1" | "true" | "yes"),
            TEACHER_KEY_KEY => key = Some(value),
            SEAT_KEY => match value.parse::<usize>() {
                Ok(n) if n >= 1 => seat = Some(n),
                _ => notices.push(format!(
                    "ignored seat `{}`: a seat is a whole number from 1",
                    shorten(&value)
                )),
            },
            BACKEND_KEY => match value.as_str() {
                "cpu" => link.force_cpu = true,
                "auto" => link.force_cpu = false,
                other => notices.push(format!(
                    "ignored backend `{}`: use `cpu` or `auto`",
                    shorten(other)
                )),
            },
            _ => match by_key(&name) {
                None => notices.push(format!("ignored unknown key `{}`", shorten(&name))),
                Some(k) => match k.read(&value) {
                    Ok(v) => {
                        given.retain(|(g, _)| g.key != k.key);
                        given.push((k, v));
                    }
                    Err(why) => notices.push(format!(
                        "`{}` ({}): {}; kept the default",
                        k.key,
                        k.path,
                        shorten(&why.to_string())
                    )),
                },
            },
        }
    }
    match version {
        Some(v) if v > FORMAT_VERSION => notices.push(format!(
            "this link was made by a newer version of the page (format {v}); settings it added are ignored"
        )),
        // Format 1 is the first; older formats would be migrated here.
        _ => {}
    }
    link.config = settle(base, &mut given, &mut notices);
    if sweep_axes[0].is_some() || sweep_axes[1].is_some() || sweep_seeds.is_some() {
        match sweep_form(&sweep_axes, sweep_seeds) {
            // Both messages quote the link's text already cut by `shorten`.
            Err(why) => notices.push(format!("ignored the sweep: {why}")),
            Ok(form) => match form.spec(&link.config) {
                Err(e) => notices.push(format!("ignored the sweep: {e}")),
                Ok(_) => link.sweep = Some(form),
            },
        }
    }
    link.class = class
        .and_then(|class| class_link(&class, hub, seat, teach, &mut link, &mut notices))
        .map(|class| ClassLink { key, ..class });
    link.notices = notices;
    link
}

/// The class a link's `class`, `hub`, `seat` and `teach` keys ask for, or why not (in `notices`).
fn class_link(
    class: &str,
    hub: Option<String>,
    seat: Option<usize>,
    teach: bool,
    link: &mut Link,
    notices: &mut Vec<String>,
) -> Option<ClassLink> {
    let (role, via_hub) = match class {
        "join" => (ClassRole::Student, true),
        "teach" => (ClassRole::Teacher, true),
        _ => (
            if teach {
                ClassRole::Teacher
            } else {
                ClassRole::Student
            },
            false,
        ),
    };
    if via_hub {
        if let Some(url) = hub
            .as_ref()
            .filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            notices.push(format!(
                "ignored the class: its hub `{}` is not an http:// or https:// address",
                shorten(url)
            ));
            return None;
        }
        return Some(ClassLink {
            role,
            hub: Some(hub.unwrap_or_default().trim_end_matches('/').to_string()),
            id: None,
            seat,
            key: None,
        });
    }
    // A class without a hub: the link carries the sweep, whose identifier must be the class's.
    let Some(form) = link.sweep.take() else {
        notices.push(format!(
            "ignored the class `{}`: the link holds no sweep (it may have been cut short; ask for the link again)",
            shorten(class)
        ));
        return None;
    };
    match form.spec(&link.config) {
        Ok(spec) if crate::study::class::ClassPlan::id_of(&spec) == class => {
            // The sweep is the class's: the page trains one cell of it, not the whole sweep.
            link.sweep = Some(form);
            link.autostart = false;
            Some(ClassLink {
                role,
                hub: None,
                id: Some(class.to_string()),
                seat,
                key: None,
            })
        }
        Ok(_) | Err(_) => {
            notices.push(format!(
                "ignored the class `{}`: the link's settings are not that class's (a cut or edited link, or one made by another version of the page; ask for the link again)",
                shorten(class)
            ));
            None
        }
    }
}

/// The sweep form of a link's `sweep`, `sweep2` and `seeds` values (checked later, over the config).
fn sweep_form(axes: &[Option<String>; 2], seeds: Option<String>) -> Result<SweepForm, String> {
    let axis = |text: &str| -> Result<(SweepSetting, String), String> {
        let (id, values) = text
            .split_once(':')
            .ok_or_else(|| format!("`{}` is not `setting:values`", shorten(text)))?;
        let setting = SweepSetting::from_id(id).ok_or_else(|| {
            let known: Vec<&str> = SweepSetting::all().map(|s| s.id()).collect();
            format!(
                "unknown setting `{}` (known: {})",
                shorten(id),
                known.join(", ")
            )
        })?;
        Ok((setting, values.to_string()))
    };
    let defaults = SweepForm::default();
    let (first, first_values) = axis(axes[0].as_deref().ok_or("`sweep2` without `sweep`")?)?;
    let second = axes[1].as_deref().map(axis).transpose()?;
    Ok(SweepForm {
        first,
        first_values,
        second: second.as_ref().map(|(s, _)| *s),
        second_values: second.map_or(defaults.second_values, |(_, v)| v),
        seeds: seeds.unwrap_or(defaults.seeds),
    })
}

/// Applies the given settings over `base`, dropping (with a notice) each one the config rejects until
/// the rest make a valid config.
fn settle(
    base: &ExperimentConfig,
    given: &mut Vec<(&'static Setting, Value)>,
    notices: &mut Vec<String>,
) -> ExperimentConfig {
    loop {
        match build(base, given) {
            Ok(config) => return config,
            Err((bad, why)) => {
                let dropped = given.remove(bad.unwrap_or(given.len() - 1));
                // `why` is the validation's own words (whole), or serde's, already cut.
                notices.push(format!(
                    "`{}` ({}): {why}; kept the default",
                    dropped.0.key, dropped.0.path,
                ));
                if given.is_empty() {
                    // The base alone: valid by contract, but never panic on a link.
                    return match base.validate() {
                        Ok(_) => base.clone(),
                        Err(_) => ExperimentConfig::default(),
                    };
                }
            }
        }
    }
}

/// The config of `base` with `given` applied, or the index of the setting to drop and why.
fn build(
    base: &ExperimentConfig,
    given: &[(&'static Setting, Value)],
) -> Result<ExperimentConfig, (Option<usize>, String)> {
    let mut value = serde_json::to_value(base).expect("configs serialize");
    for (i, (k, v)) in given.iter().enumerate() {
        set_path(&mut value, k.path, v.clone()).map_err(|e| (Some(i), e.message))?;
    }
    let config: ExperimentConfig = serde_json::from_value(value.clone()).map_err(|e| {
        // Find the first setting whose value alone does not deserialize.
        let culprit = given.iter().position(|(k, v)| {
            let mut alone = serde_json::to_value(base).expect("configs serialize");
            set_path(&mut alone, k.path, v.clone()).is_err()
                || serde_json::from_value::<ExperimentConfig>(alone).is_err()
        });
        // serde's message quotes the link's text: cut it as every quote of a link is.
        (culprit, shorten(&e.to_string()))
    })?;
    config
        .validate()
        .map_err(|ConfigError { setting, message }| {
            // The rejected setting, or the last given one of its group (e.g. `task.x_len` for `task.x_len.max`).
            let culprit = given
                .iter()
                .rposition(|(k, _)| {
                    setting == k.path || setting.starts_with(&format!("{}.", k.path))
                })
                .or_else(|| {
                    let group = setting.split('.').next().unwrap_or_default();
                    given
                        .iter()
                        .rposition(|(k, _)| k.path.split('.').next() == Some(group))
                });
            // The notice names the dropped setting already: name another only when it is another.
            let about_it = culprit.is_some_and(|i| given[i].0.path == setting);
            let why = if about_it {
                message
            } else {
                format!("{setting}: {message}")
            };
            (culprit, why)
        })?;
    Ok(config)
}

/// What links leave as it is: letters, digits and `-_.~:,+` (the codecs' punctuation), so a link
/// stays readable; everything else is percent-encoded.
const LINK_TEXT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b',')
    .remove(b'+');

/// Percent-encodes what is not a URL-safe character.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, LINK_TEXT).to_string()
}

/// Percent-decodes (and reads `+` as itself, not a space), `None` when the bytes are not UTF-8.
fn decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|t| t.into_owned())
}

/// What a shared link starts when opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStarts {
    /// Nothing: the settings only.
    Nothing,
    /// The run.
    Run,
    /// The sweep builder's sweep.
    Sweep,
}

/// The link fragment of the current settings seen through `view`, starting what `starts` says when
/// opened (a sweep link carries the sweep builder's fields; the open lesson travels with it).
pub fn share_fragment(
    settings: &crate::page::state::settings::Settings,
    view: &View,
    lesson: Option<&str>,
    form: &SweepForm,
    starts: LinkStarts,
) -> String {
    let view = View {
        lesson: lesson.map(str::to_string),
        ..view.clone()
    };
    let mut fragment = write_with_view(
        &settings.config,
        settings.preset.as_deref(),
        settings.force_cpu,
        &view,
    );
    if starts == LinkStarts::Sweep {
        fragment.push_str(&write_sweep(form));
    }
    if starts != LinkStarts::Nothing {
        fragment.push_str("&run=1");
    }
    fragment
}

/// The teacher's link of a class on the sweep builder's sweep: the settings, the sweep and the
/// class's identifier ([`crate::study::class::ClassPlan::id_of`]).
pub fn class_teacher_fragment(config: &ExperimentConfig, form: &SweepForm, id: &str) -> String {
    format!(
        "{}{}{}",
        write_with_view(config, None, false, &View::default()),
        write_sweep(form),
        write_class(id, ClassRole::Teacher)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{Budget, RuleFrequency, SemanticsConfig, Span};
    use crate::engine::task::semantics::Family;
    use crate::study::presets::{PRESET_IDS, preset};

    fn base() -> ExperimentConfig {
        preset("phase-transition").unwrap().sweep.base
    }

    #[test]
    fn a_share_fragment_opens_what_it_says_it_starts() {
        use crate::page::state::settings::Settings;
        let settings = Settings::default();
        let form = SweepForm::default();
        let base = ExperimentConfig::default();
        for (starts, autostart, sweep) in [
            (LinkStarts::Nothing, false, false),
            (LinkStarts::Run, true, false),
            (LinkStarts::Sweep, true, true),
        ] {
            let fragment = share_fragment(
                &settings,
                &View::default(),
                Some("phase-transition"),
                &form,
                starts,
            );
            let link = parse(&fragment, &base);
            assert_eq!(link.config, *settings.config.raw(), "{fragment}");
            assert_eq!(
                (link.autostart, link.sweep.is_some()),
                (autostart, sweep),
                "{fragment}"
            );
            assert_eq!(link.view.lesson.as_deref(), Some("phase-transition"));
            assert!(link.notices.is_empty(), "{:?}", link.notices);
        }
        let id = crate::study::class::ClassPlan::id_of(&form.spec(settings.config.raw()).unwrap());
        let teacher = parse(
            &class_teacher_fragment(settings.config.raw(), &form, &id),
            &base,
        );
        assert!(teacher.notices.is_empty(), "{:?}", teacher.notices);
        let class = teacher.class.expect("a class link");
        assert_eq!(
            (class.role, class.id.as_deref()),
            (ClassRole::Teacher, Some(id.as_str()))
        );
        let opened = teacher.sweep.expect("the sweep travels with the class");
        assert_eq!(opened.spec(&base).unwrap(), form.spec(&base).unwrap());
    }

    #[test]
    fn every_setting_round_trips() {
        let mut config = base();
        config.seed = 987_654_321;
        config.task.instructions = 77;
        config.task.budget = Budget::PerRule(13);
        config.task.alphabet = 11;
        config.task.x_len = Span::new(2, 3);
        config.task.y_len = Span::new(0, 1);
        config.task.z_len = Span::new(6, 9);
        config.task.noop_share = 0.15;
        config.task.frequency = RuleFrequency::PowerLaw { shape: 0.35 };
        config.task.occurrences = vec![1, 2];
        config.task.semantics = Some(SemanticsConfig {
            families: vec![Family::Mirrored, Family::Repeated],
            train_k: Span::new(2, 2),
            test_k: Span::new(1, 1),
        });
        config.model.layers = 3;
        config.model.width = 48;
        config.model.heads = 3;
        config.model.ff_width = 96;
        config.model.max_len = 80;
        config.train.steps = 1234;
        config.train.batch_size = 24;
        config.train.learning_rate = 0.0021;
        config.train.warmup_steps = 17;
        config.train.final_lr_ratio = 0.05;
        config.train.weight_decay = 0.001;
        config.train.grad_clip = None;
        config.train.eval_every = 111;
        config.eval.test_rules = 33;
        config.eval.seen_examples = 44;
        config.eval.unseen_examples = 55;
        config.eval.noop_examples = 66;
        config.eval.interim_examples = 7;
        let flip = |c: &mut ExperimentConfig| {
            use crate::engine::config::{BatchSampling, Init, SequenceFormat};
            c.task.format = match c.task.format {
                SequenceFormat::Fields => SequenceFormat::Packed,
                SequenceFormat::Packed => SequenceFormat::Fields,
            };
            c.model.init = match c.model.init {
                Init::Gpt2 => Init::Pytorch,
                Init::Pytorch => Init::Gpt2,
            };
            c.train.sampling = match c.train.sampling {
                BatchSampling::Epochs => BatchSampling::Replacement,
                BatchSampling::Replacement => BatchSampling::Epochs,
            };
        };
        flip(&mut config);
        config.validate().unwrap();
        // Overwritten inputs need one occurrence: a second config changes them.
        let mut overwritten = base();
        overwritten.task.inputs = crate::engine::config::InputSampling::Overwrite;
        // Programs need one occurrence too.
        overwritten.task.program = crate::engine::config::ProgramConfig {
            rules: 2,
            semantics: crate::engine::config::ProgramSemantics::Markov,
            terminal: crate::engine::config::Terminal::Last,
            max_steps: 5,
            answer: crate::engine::config::AnswerFormat::Trace,
            rule_pool: 40,
        };
        overwritten.model.max_len = 128;
        overwritten.validate().unwrap();
        // Every table key differs from the base in one of them, so a key the writer forgot would show.
        let defaults = serde_json::to_value(base()).unwrap();
        let changed = [&config, &overwritten].map(|c| serde_json::to_value(c).unwrap());
        for k in SETTINGS {
            assert!(
                changed
                    .iter()
                    .any(|c| get_path(&defaults, k.path) != get_path(c, k.path)),
                "{} unchanged",
                k.path
            );
        }
        for config in [config, overwritten] {
            let text = write(&config, Some("skew"), true);
            let link = parse(&text, &base());
            assert_eq!(link.notices, Vec::<String>::new(), "{text}");
            assert_eq!(link.config, config);
            assert_eq!(link.preset.as_deref(), Some("skew"));
            assert!(link.force_cpu);
            assert!(!link.autostart);
        }
    }

    #[test]
    fn every_preset_round_trips_and_links_carry_every_key() {
        for id in PRESET_IDS {
            let config = preset(id).unwrap().sweep.base;
            let text = write(&config, Some(id), false);
            for k in SETTINGS {
                assert!(
                    text.contains(&format!("&{}=", k.key)),
                    "{id}: {} missing",
                    k.key
                );
            }
            let link = parse(&text, &ExperimentConfig::default());
            assert_eq!(link.config, config, "{id}");
            assert!(link.notices.is_empty(), "{id}: {:?}", link.notices);
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_fall_back_with_notices() {
        let link = parse(
            "#v=1&I=64&colour=blue&lr=fast&width=30&steps=-5&budget=lots&run=1",
            &base(),
        );
        assert_eq!(link.config.task.instructions, 64);
        assert_eq!(link.config.train.learning_rate, base().train.learning_rate);
        assert_eq!(link.config.model.width, base().model.width);
        assert_eq!(link.config.train.steps, base().train.steps);
        assert_eq!(link.config.task.budget, base().task.budget);
        assert!(link.autostart);
        let all = link.notices.join("\n");
        for needle in ["`colour`", "`lr`", "`width`", "`steps`", "`budget`"] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
        assert_eq!(link.notices.len(), 5, "{all}");
        link.config.validate().unwrap();
    }

    #[test]
    fn a_cross_setting_conflict_drops_the_offending_key() {
        // Each value parses, but together they break the config: heads must divide the width.
        let link = parse("v=1&width=64&heads=5", &base());
        link.config.validate().unwrap();
        assert_eq!(link.config.model.width, 64);
        assert_eq!(link.config.model.heads, base().model.heads);
        assert_eq!(link.notices.len(), 1, "{:?}", link.notices);
        // The notice names the setting once and gives the reason whole.
        assert_eq!(
            link.notices[0],
            "`heads` (model.heads): must divide the width 64, got 5; kept the default"
        );
        // A conflict reported on another setting names that one too.
        let link = parse("v=1&x=3-3&z=2-2", &base());
        assert!(
            !link.notices.is_empty() && link.notices.iter().all(|n| !n.contains('…')),
            "{:?}",
            link.notices
        );
    }

    #[test]
    fn links_carry_a_sweep_and_refuse_a_bad_one_with_a_notice() {
        let link = parse(
            "v=1&I=64&sweep=instructions:4,16&sweep2=per-rule:5,20&seeds=2&run=1",
            &base(),
        );
        assert!(link.notices.is_empty(), "{:?}", link.notices);
        assert!(link.autostart);
        let form = link.sweep.clone().unwrap();
        assert_eq!(form.first, SweepSetting::from_id("instructions").unwrap());
        assert_eq!(form.second, SweepSetting::from_id("per-rule"));
        assert_eq!(form.spec(&link.config).unwrap().plan().unwrap().len(), 8);
        let typed = SweepForm {
            first_values: " 4  16, 64 ".into(),
            ..SweepForm::default()
        };
        assert_eq!(write_sweep(&typed), "&sweep=instructions:4,16,64&seeds=1");
        let again = parse(&format!("v=1{}", write_sweep(&form)), &base()).sweep;
        assert_eq!(again.unwrap().spec(&base()), form.spec(&base()));
        for (bad, needle) in [
            ("sweep=colour:1,2", "unknown setting `colour`"),
            ("sweep=instructions", "not `setting:values`"),
            ("sweep2=per-rule:5", "without `sweep`"),
            ("sweep=instructions:4,x", "`x`"),
            ("sweep=instructions:4&seeds=99", "1 to 5"),
        ] {
            let link = parse(bad, &base());
            assert!(link.sweep.is_none(), "{bad}");
            assert!(
                link.notices.iter().any(|n| n.contains(needle)),
                "{bad}: {:?}",
                link.notices
            );
        }
    }

    /// The format-1 link of the phase-transition preset, frozen: it must open the same settings in
    /// every later version of the page.
    const FORMAT_1_LINK: &str = "v=1&preset=phase-transition&seed=1&I=1024&budget=total:20000&alphabet=8&x=1-2&y=0-2&z=4-10&noop=0.1&freq=uniform&occ=1&sem=none&layers=2&width=64&heads=4&ff=256&maxlen=64&steps=4000&batch=64&lr=0.003&warmup=200&lr_end=0.1&wd=0.01&clip=1&eval_every=1000&test_rules=100&n_seen=400&n_unseen=400&n_noop=200";

    /// The settings the frozen link was written from: the phase-transition preset of its day. The
    /// settings added since (input sampling, sequence format, initialisation, batch sampling) take
    /// the values every run had before they existed.
    fn format_1_settings() -> ExperimentConfig {
        let mut config = base();
        config.task.x_len = Span::new(1, 2);
        config.task.y_len = Span::new(0, 2);
        config.task.z_len = Span::new(4, 10);
        config.task.instructions = 1024;
        config.task.budget = Budget::Total(20_000);
        config.train.steps = 4000;
        config.train.learning_rate = 0.003;
        config.train.warmup_steps = 200;
        config.train.eval_every = 1000;
        config.train.final_lr_ratio = 0.1;
        config.train.grad_clip = Some(1.0);
        config.model = crate::engine::config::ModelConfig::default();
        config.eval.interim_examples = 0;
        config.task.inputs = Default::default();
        config.task.format = Default::default();
        config.train.sampling = Default::default();
        config
    }

    #[test]
    fn a_format_1_link_still_opens() {
        let link = parse(FORMAT_1_LINK, &ExperimentConfig::default());
        assert!(link.notices.is_empty(), "{:?}", link.notices);
        assert_eq!(link.config, format_1_settings());
        assert_eq!(link.config.model.init, crate::engine::config::Init::Gpt2);
        // Written again, it carries the keys added since, and opens the same settings.
        let again = write(&link.config, Some("phase-transition"), false);
        assert!(again.contains("&init=gpt2"), "{again}");
        assert_eq!(parse(&again, &base()).config, link.config);
    }

    #[test]
    fn newer_formats_and_broken_encoding_are_reported() {
        let link = parse("v=9&I=%zz&%E2%28=1&alphabet=12", &base());
        assert_eq!(link.config.task.alphabet, 12);
        assert_eq!(link.notices.len(), 3, "{:?}", link.notices);
        assert!(link.notices.iter().any(|n| n.contains("newer version")));
    }

    #[test]
    fn markup_in_values_stays_text_in_notices() {
        let link = parse(
            "preset=%3Cscript%3Ealert(1)%3C%2Fscript%3E&x=%22%3E%3Cimg%20onerror%3Dalert(1)%3E",
            &base(),
        );
        assert_eq!(link.preset.as_deref(), Some("<script>alert(1)</script>"));
        assert_eq!(link.config.task.x_len, base().task.x_len);
        assert_eq!(link.notices.len(), 1);
        // The encoder writes no markup characters at all.
        let text = write(&base(), Some("<b>\"x\"</b>"), false);
        assert!(!text.contains(['<', '>', '"']), "{text}");
        assert_eq!(
            parse(&text, &base()).preset.as_deref(),
            Some("<b>\"x\"</b>")
        );
    }

    #[test]
    fn a_teachers_view_round_trips_and_names_settings_groups_and_panels() {
        let text = "v=1&I=64&hide=model,lr,charts&lock=I,x&embed=1";
        let link = parse(text, &base());
        assert!(link.notices.is_empty(), "{:?}", link.notices);
        let view = &link.view;
        assert!(view.embed);
        // A group hides each of its settings; a key hides its own; a panel itself.
        assert!(view.hides("model.width") && view.hides("model.heads"));
        assert!(view.hides("train.learning_rate") && !view.hides("train.steps"));
        assert!(view.hides("charts") && !view.hides("predictions"));
        // A lock on a key covers the parts of its value; hidden means locked too.
        assert!(view.locks("task.instructions") && view.locks("task.x_len.max"));
        assert!(!view.locks("task.y_len.min") && view.locks("model.layers"));
        assert!(!view.locks("seed"));
        let again = parse(&write_with_view(&link.config, None, false, view), &base());
        assert_eq!(&again.view, view);
        assert_eq!(again.config, link.config);
        // Hiding the settings panel hides every setting, the seed included.
        let all = parse("hide=settings", &base()).view;
        assert!(SETTINGS.iter().all(|k| all.hides(k.path)));
        assert!(parse("hide=task", &base()).view.hides("seed"));
    }

    #[test]
    fn typed_lists_extend_a_view_and_name_what_is_unknown() {
        let base_view = parse("lock=seed", &base()).view;
        let (view, unknown) = base_view.with_lists("model, charts", "I,wings", true);
        assert!(view.embed && view.hides("model.width") && view.hides("charts"));
        assert!(view.locks("seed") && view.locks("task.instructions"));
        assert_eq!(unknown, vec!["wings"]);
        assert!(control_names().all(is_control_name));
        assert_eq!(
            control_names().count(),
            SETTINGS.len() + Group::ALL.len() + PANELS.len()
        );
    }

    #[test]
    fn unknown_controls_are_reported_and_markup_stays_text() {
        let link = parse(
            "hide=model,%3Cimg%20onerror%3Dx%3E,,wings&lock=seed",
            &base(),
        );
        assert_eq!(link.view.hidden.iter().collect::<Vec<_>>(), vec!["model"]);
        assert!(link.view.locks("seed"));
        assert_eq!(link.notices.len(), 2, "{:?}", link.notices);
        assert!(link.notices[0].contains("`<img onerror=x>` in `hide`"));
        let written = write_with_view(&link.config, None, false, &link.view);
        assert!(written.ends_with("&hide=model&lock=seed"), "{written}");
    }

    /// The fuzz properties: proptest needs OS entropy, so they run natively only.
    #[cfg(not(target_arch = "wasm32"))]
    mod fuzz {
        use super::*;

        /// Inputs per fuzz property below (two properties: 2 x 100,000 inputs per test run).
        const FUZZ_CASES: u32 = 100_000;

        /// A value-ish text: codec syntax, numbers, markup, percent escapes and arbitrary characters.
        fn fuzz_value() -> impl proptest::strategy::Strategy<Value = String> {
            use proptest::prelude::*;
            prop_oneof![
                "[0-9]{0,12}",
                "-?[0-9]{0,6}\\.?[0-9]{0,6}(e-?[0-9]{1,3})?",
                "[0-9]{1,4}-[0-9]{1,4}",
                "(total|per_rule|power_law|uniform|none|repeated|periodic|mirrored)[:+]?[0-9a-z:+.,-]{0,12}",
                "(%[0-9A-Fa-f]{0,2}|[<>\"'&=#?]|[a-z]){0,12}",
                any::<String>(),
            ]
        }

        proptest::proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases(FUZZ_CASES))]

            /// Arbitrary text never panics the parser and always yields a valid config.
            #[test]
            fn fuzz_arbitrary_text_never_panics(text in proptest::prelude::any::<String>()) {
                let link = parse(&text, &base());
                proptest::prop_assert!(link.config.validate().is_ok());
            }

            /// Links built from the real keys with hostile values never panic the parser, always yield a
            /// valid config, and write back to a link that parses to the same config with no notice.
            #[test]
            fn fuzz_known_keys_with_hostile_values(
                pairs in proptest::collection::vec((0..SETTINGS.len() + 11, fuzz_value()), 0..12)
            ) {
                let names = ["v", "preset", "run", "backend", "hide", "lock", "embed", "lesson", "sweep", "sweep2", "seeds"];
                let text = pairs
                    .iter()
                    .map(|(i, v)| format!("{}={v}", SETTINGS.get(*i).map_or_else(|| names[i - SETTINGS.len()], |k| k.key)))
                    .collect::<Vec<_>>()
                    .join("&");
                let link = parse(&text, &base());
                proptest::prop_assert!(link.config.validate().is_ok());
                let mut written = write_with_view(&link.config, None, link.force_cpu, &link.view);
                if let Some(form) = &link.sweep {
                    written.push_str(&write_sweep(form));
                }
                let again = parse(&written, &base());
                proptest::prop_assert_eq!(&again.config, &link.config);
                proptest::prop_assert_eq!(&again.view, &link.view);
                let spec = |l: &Link| l.sweep.as_ref().map(|f| f.spec(&l.config).map_err(|e| e.to_string()));
                proptest::prop_assert_eq!(spec(&again), spec(&link));
                proptest::prop_assert!(again.notices.is_empty(), "{:?}", again.notices);
            }
        }
    }
}
