//! The settings form, drawn from the settings table: a field per setting (two for a span), grouped
//! as the table groups them, with the table's label, hint and bounds; the rarer settings under
//! "More". Every field sends its text to the reducer, which reads it with the setting's codec.

use crate::app::Dispatch;
use crate::field::DraftInput;
use instruction_diversity::engine::config::Budget;
use instruction_diversity::engine::settings::{Codec, Group, SETTINGS, Setting, get_path};
use instruction_diversity::page::link::View;
use instruction_diversity::page::state::Action;
use instruction_diversity::page::state::settings::{Settings, SettingsAction};
use instruction_diversity::study::presets::{PRESET_IDS, preset};
use serde_json::Value;
use std::rc::Rc;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SettingsFormProps {
    pub settings: Rc<Settings>,
    pub view: Rc<View>,
    /// A run is in progress: the settings are read-only.
    pub active: bool,
    /// Counts the links opened (see `DraftInput::reset`).
    pub reset: u64,
    pub dispatch: Dispatch,
}

/// A text handler that sends a field's text for the setting (or span end) at `path`.
fn on_text(dispatch: &Dispatch, path: String) -> Callback<String> {
    let dispatch = dispatch.clone();
    Callback::from(move |text: String| {
        dispatch.dispatch(Action::Settings(SettingsAction::SetText(
            path.clone(),
            text,
        )));
    })
}

/// The element id of a setting (or span end): its dotted path with dashes (`task-x_len-min`).
fn field_id(path: &str) -> String {
    path.replace('.', "-")
}

/// What every field of the form shares: whether it is closed, the links opened (see
/// `DraftInput::reset`) and where it sends its text.
#[derive(Clone, Copy)]
struct Shared<'a> {
    disabled: bool,
    reset: u64,
    dispatch: &'a Dispatch,
}

/// One number input.
fn number_field(
    setting: &Setting,
    path: String,
    label: String,
    value: String,
    hint: &str,
    shared: Shared,
) -> Html {
    let Shared {
        disabled,
        reset,
        dispatch,
    } = shared;
    let id = field_id(&path);
    let b = setting.bounds;
    html! {
        <label class="field" for={id.clone()}>
            <span class="name">{ label }</span>
            <DraftInput {id} kind="number" min={b.min.to_string()} max={b.max.to_string()} step={b.step.to_string()}
                {value} {disabled} {reset} onchange={on_text(dispatch, path)} />
            <span class="hint">{ hint.to_string() }</span>
        </label>
    }
}

/// The inputs of one setting.
fn setting_fields(setting: &Setting, config: &Value, shared: Shared) -> Html {
    let Shared {
        disabled,
        reset,
        dispatch,
    } = shared;
    let value = get_path(config, setting.path)
        .cloned()
        .unwrap_or(Value::Null);
    let path = setting.path.to_string();
    match setting.codec {
        Codec::Int | Codec::Float => number_field(
            setting,
            path,
            setting.label.into(),
            value.to_string(),
            setting.hint,
            shared,
        ),
        Codec::OptionalFloat => number_field(
            setting,
            path,
            setting.label.into(),
            value.as_f64().map(|x| x.to_string()).unwrap_or_default(),
            setting.hint,
            shared,
        ),
        Codec::Span => html! {
            <>
                { number_field(setting, format!("{path}.min"), format!("{}: shortest", setting.label),
                    value["min"].to_string(), setting.hint, shared) }
                { number_field(setting, format!("{path}.max"), format!("{}: longest", setting.label),
                    value["max"].to_string(), "", shared) }
            </>
        },
        Codec::Budget => html! {},
        Codec::IntList | Codec::Frequency | Codec::Semantics | Codec::Choice(_) => {
            let id = field_id(setting.path);
            html! {
                <label class="field" for={id.clone()}>
                    <span class="name">{ setting.label }</span>
                    <DraftInput {id} class="mono" value={setting.write(&value).unwrap_or_default()}
                        {disabled} {reset} onchange={on_text(dispatch, path)} />
                    <span class="hint">{ setting.hint }</span>
                </label>
            }
        }
    }
}

#[function_component(SettingsForm)]
pub fn settings_form(props: &SettingsFormProps) -> Html {
    let settings = &props.settings;
    let view = &props.view;
    let dispatch = &props.dispatch;
    // Serialized once per render, not once per field.
    let config = serde_json::to_value(&settings.config).unwrap_or(Value::Null);
    let field = |s: &Setting| {
        if view.hides(s.path) {
            return html! {};
        }
        let disabled = props.active || view.locks(s.path);
        if s.codec == Codec::Budget {
            return html! { <BudgetField budget={settings.config.task.budget} {disabled} reset={props.reset} dispatch={dispatch.clone()} /> };
        }
        let shared = Shared {
            disabled,
            reset: props.reset,
            dispatch,
        };
        setting_fields(s, &config, shared)
    };
    let on_preset = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let id = e.target_unchecked_into::<HtmlSelectElement>().value();
            dispatch.dispatch(Action::Settings(SettingsAction::LoadPreset(id)));
        })
    };
    let group = |group: Group| {
        if view.hides(group.name()) {
            return html! {};
        }
        let of_group = || SETTINGS.iter().filter(move |s| s.group == group);
        let advanced: Vec<&Setting> = of_group()
            .filter(|s| s.advanced && !view.hides(s.path))
            .collect();
        html! {
            <fieldset>
                <legend>{ group.title() }</legend>
                { for of_group().filter(|s| !s.advanced).map(field) }
                if !advanced.is_empty() {
                    <details>
                        <summary>{ format!("More {} settings", group.title().to_lowercase()) }</summary>
                        { for advanced.into_iter().map(field) }
                    </details>
                }
            </fieldset>
        }
    };
    html! {
        <>
            if !view.hides("preset") {
            <label class="field" for="preset">
                <span class="name">{ "Preset" }</span>
                <select id="preset" onchange={on_preset} disabled={props.active || view.locks("preset")}>
                    <option value="" selected={settings.preset.is_none()}>{ "Custom" }</option>
                    { for PRESET_IDS.iter().map(|id| {
                        let p = preset(id).expect("listed presets exist");
                        html! { <option value={*id} selected={settings.preset.as_deref() == Some(*id)}>{ p.title }</option> }
                    }) }
                </select>
                <span class="hint">{ settings.preset.as_deref().and_then(preset).map(|p| p.summary).unwrap_or("Your own settings.") }</span>
            </label>
            }
            { for Group::ALL.into_iter().map(group) }
            if let Some(e) = &settings.error {
                <p class="error" role="alert">{ e.to_string() }</p>
            }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct BudgetProps {
    budget: Budget,
    disabled: bool,
    reset: u64,
    dispatch: Dispatch,
}

/// The training budget: a total `N` spread over the rules, or `S` examples for every rule.
#[function_component(BudgetField)]
fn budget_field(props: &BudgetProps) -> Html {
    let setting = instruction_diversity::engine::settings::setting("task.budget")
        .expect("the budget is a setting");
    let (kind, amount) = match props.budget {
        Budget::Total(n) => ("total", n),
        Budget::PerRule(s) => ("per_rule", s),
    };
    let send = |dispatch: &Dispatch| {
        let dispatch = dispatch.clone();
        move |text: String| {
            dispatch.dispatch(Action::Settings(SettingsAction::SetText(
                "task.budget".into(),
                text,
            )))
        }
    };
    let on_kind = {
        let send = send(&props.dispatch);
        Callback::from(move |e: Event| {
            let kind = e.target_unchecked_into::<HtmlSelectElement>().value();
            send(format!("{kind}:{amount}"));
        })
    };
    let on_amount = {
        let send = send(&props.dispatch);
        Callback::from(move |text: String| {
            send(format!("{kind}:{}", text.trim()));
        })
    };
    let b = setting.bounds;
    html! {
        <div class="field budget">
            <label for="task-budget-kind" class="name">{ setting.label }</label>
            <div class="pair">
                <select id="task-budget-kind" onchange={on_kind} disabled={props.disabled} aria-label="Budget kind">
                    <option value="total" selected={kind == "total"}>{ "in total (N)" }</option>
                    <option value="per_rule" selected={kind == "per_rule"}>{ "per rule (S)" }</option>
                </select>
                <DraftInput id="task-budget" kind="number" min={b.min.to_string()} max={b.max.to_string()} step="1" value={amount.to_string()}
                    disabled={props.disabled} reset={props.reset} onchange={on_amount} aria_label="Budget amount" />
            </div>
            <span class="hint">{ setting.hint }</span>
        </div>
    }
}
