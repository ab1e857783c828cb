//! The instruction inspector: per-set and per-kind accuracy of the inspected run, per-rule
//! accuracy, and a rule's cases across evaluations.

use crate::app::Dispatch;
use crate::run_panel::diff_html;
use crate::widgets::*;
use instruction_diversity::engine::metrics::Tally;
use instruction_diversity::page::inspect::{
    FEW_INPUTS, RuleCase, RuleGroup, RuleSort, Share, kind_rows, rule_cases, rule_rows,
    set_summaries, sort_rows,
};
use instruction_diversity::page::state::inspector::{Inspector, InspectorAction};
use instruction_diversity::page::state::library::Library;
use instruction_diversity::page::state::run::LiveRun;
use instruction_diversity::page::state::{Action, inspected};
use std::rc::Rc;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Exact match with the inputs behind it: "52% (312 of 600)".
fn score(tally: &Tally) -> String {
    match tally.accuracy() {
        Some(accuracy) => format!(
            "{} ({} of {})",
            percent(accuracy),
            tally.correct,
            tally.total
        ),
        None => "no inputs".into(),
    }
}

/// A set's line in the inspector's summary, with the name the run's headline numbers give it.
fn set_title(group: RuleGroup, programs: bool) -> &'static str {
    match (group, programs) {
        (RuleGroup::HeldOut, false) => "held-out rules (unseen)",
        (RuleGroup::Training, false) => "training rules (seen)",
        (RuleGroup::HeldOut, true) => "held-out programs (unseen)",
        (RuleGroup::Training, true) => "training programs (seen)",
        (RuleGroup::Composed, _) => "unseen programs of seen rules (composed)",
    }
}

fn set_key(group: RuleGroup) -> &'static str {
    match group {
        RuleGroup::HeldOut => "held-out",
        RuleGroup::Training => "training",
        RuleGroup::Composed => "composed",
    }
}

/// An evaluation split as the run's headline numbers name it.
fn split_title(name: &str) -> &str {
    match name {
        "seen" => "seen rules",
        "unseen" => "unseen rules",
        "noop" => "no-ops",
        "composed" => "unseen programs of seen rules",
        other => other,
    }
}

fn share_cell(share: &Share) -> Html {
    if share.rules == 0 {
        return html! { <td class="muted">{ "no rules" }</td> };
    }
    let inputs = &share.inputs;
    let accuracy = inputs.accuracy().map(percent).unwrap_or_else(|| "–".into());
    html! {
        <td>{ format!("{accuracy} ({} of {} inputs)", inputs.correct, inputs.total) }
            <span class="muted">{ format!(" · {} rule{}", share.rules, if share.rules == 1 { "" } else { "s" }) }</span></td>
    }
}

/// Per-set and per-kind accuracy of the inspected run, per-rule accuracy, a rule's cases across
/// evaluations, and a picker of runs.
#[derive(Properties, PartialEq)]
pub struct InspectorProps {
    pub inspector: Rc<Inspector>,
    pub library: Rc<Library>,
    pub run: Rc<LiveRun>,
    pub dispatch: Dispatch,
}

#[function_component(InspectorPanel)]
pub fn inspector_panel(props: &InspectorProps) -> Html {
    let inspector = &props.inspector;
    let library = &props.library;
    let dispatch = props.dispatch.clone();
    let shown_rules = use_state(|| RULE_PAGE);
    let on_run = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
            dispatch.dispatch(Action::OpenRun(value.parse().ok()));
        })
    };
    let picker = html! {
        <label class="field" for="inspect-run"><span class="name">{ "Run" }</span>
            <select id="inspect-run" onchange={on_run}>
                <option value="" selected={inspector.opened.is_none()}>{ if props.run.is_active() { "the run in progress" } else { "the latest run" } }</option>
                { for library.runs.iter().enumerate().map(|(i, run)| html! {
                    <option value={i.to_string()} selected={inspector.opened == Some(i)}>{ &run.name }</option>
                }) }
            </select>
        </label>
    };
    let name = inspector
        .opened
        .and_then(|i| library.runs.get(i))
        .map(|r| r.name.clone());
    let Some((config, history)) =
        inspected(inspector, library, &props.run).filter(|(_, h)| !h.is_empty())
    else {
        return html! {
            <section class="panel inspector" aria-label="Instruction inspector" id="inspector">
                <h2>{ "Instruction inspector" }</h2>
                { picker }
                <p class="muted">{ "Per-rule results appear at the first evaluation of a run trained in this tab." }</p>
            </section>
        };
    };
    let latest = history.last().expect("not empty");
    let sets = set_summaries(latest);
    let programs = !config.task.program.is_single_rule();
    let rules_in_set = |group: RuleGroup| match group {
        RuleGroup::HeldOut | RuleGroup::Composed => config.eval.test_rules,
        RuleGroup::Training => config.task.instructions,
    };
    let kinds = kind_rows(latest);
    let mut rows = rule_rows(latest);
    // The opened rule's text, taken before the table is filtered and cut.
    let opened_text = inspector.rules.rule.and_then(|(group, rule)| {
        rows.iter()
            .find(|r| r.group == group && r.rule == rule)
            .map(|r| r.text.clone())
    });
    sort_rows(&mut rows, inspector.rules.sort, inspector.rules.descending);
    if inspector.rules.failures_only {
        rows.retain(|r| r.tally.correct < r.tally.total);
    }
    let total_rows = rows.len();
    rows.truncate(*shown_rules);
    let sort_header = |key: RuleSort, label: &str, id: &str| {
        let dispatch = dispatch.clone();
        let sorted = (inspector.rules.sort == key).then_some(inspector.rules.descending);
        let mark = match sorted {
            Some(true) => " ▼",
            Some(false) => " ▲",
            None => "",
        };
        let aria_sort = sorted.map(|descending| {
            if descending {
                "descending"
            } else {
                "ascending"
            }
        });
        html! {
            <th scope="col" aria-sort={aria_sort}>
                <button class="sort" id={id.to_string()} onclick={Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Inspector(InspectorAction::SortRules(key))))}>{ format!("{label}{mark}") }</button>
            </th>
        }
    };
    let group_name = |g: RuleGroup| match g {
        RuleGroup::Training => "training",
        RuleGroup::HeldOut => "held out",
        RuleGroup::Composed => "composed",
    };
    let detail = inspector.rules.rule.map(|(group, rule)| {
        let evaluations: Vec<&instruction_diversity::engine::metrics::Evaluation> =
            history.iter().map(|e| e.as_ref()).collect();
        let mut cases = rule_cases(&evaluations, group, rule);
        if inspector.rules.failures_only {
            cases.retain(RuleCase::failed);
        }
        (group, opened_text.clone(), cases)
    });
    let on_failures = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            dispatch.dispatch(Action::Inspector(InspectorAction::FailuresOnly(
                e.target_unchecked_into::<HtmlInputElement>().checked(),
            )))
        })
    };
    html! {
        <section class="panel inspector" aria-label="Instruction inspector" id="inspector">
            <h2>{ "Instruction inspector" }</h2>
            { picker }
            <p class="muted" id="inspected-name">{ format!("{} · evaluation at step {} · {} evaluations", name.unwrap_or_else(|| "current run".into()), latest.step, history.len()) }</p>
            <div class="table-scroll">
            <table class="predictions" id="inspector-sets">
                <caption>{ format!("Each set at step {}: exact match over all its test inputs", latest.step) }</caption>
                <thead><tr>
                    <th scope="col">{ "set" }</th>
                    <th scope="col">{ "rules tested" }</th>
                    <th scope="col">{ "inputs" }</th>
                    <th scope="col">{ "exact match" }</th>
                    <th scope="col">{ format!("rules with fewer than {FEW_INPUTS} inputs") }</th>
                </tr></thead>
                <tbody>
                    { for sets.iter().map(|set| html! {
                        <tr data-set={set_key(set.group)}>
                            <th scope="row">{ set_title(set.group, programs) }</th>
                            <td>{ format!("{} of {}", set.share.rules, rules_in_set(set.group)) }</td>
                            <td>{ set.share.inputs.total }</td>
                            <td>{ score(&set.share.inputs) }
                                if set.splits.len() > 1 {
                                    <br /><span class="muted">{ set.splits.iter().map(|(name, tally)| format!("{} {}", split_title(name), score(tally))).collect::<Vec<_>>().join(" · ") }</span>
                                }
                            </td>
                            <td>{ set.few_inputs }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            </div>
            <div class="table-scroll">
            <table class="predictions" id="inspector-kinds">
                <caption>{ format!("By kind of rule at step {}: exact match, inputs and rules", latest.step) }</caption>
                <thead><tr>
                    <th scope="col">{ "kind" }</th>
                    { for RuleGroup::of(latest).into_iter().map(|group| html! { <th scope="col">{ set_title(group, programs) }</th> }) }
                </tr></thead>
                <tbody>
                    { for kinds.iter().map(|row| html! {
                        <tr data-kind={row.kind.name()}>
                            <th scope="row">{ row.kind.name() }<span class="muted">{ format!(" ({})", row.kind.meaning()) }</span></th>
                            { for RuleGroup::of(latest).into_iter().map(|group| share_cell(row.share(group))) }
                        </tr>
                    }) }
                </tbody>
            </table>
            </div>
            <p class="muted" id="rule-order">{ format!("Each rule's exact match over its own inputs. The list opens on the held-out rules, then the training rules, each with the rules scored on the most inputs first: a rule with fewer than {FEW_INPUTS} inputs says little alone. A heading sorts by its column.") }</p>
            <label class="check"><input id="failures-only" type="checkbox" checked={inspector.rules.failures_only} onchange={on_failures} />{ " only failures" }</label>
            <div class="table-scroll">
            <table class="rules" id="rule-table" aria-label={format!("Rules at step {}", latest.step)}>
                <thead><tr>
                    { sort_header(RuleSort::Group, "set", "sort-group") }
                    { sort_header(RuleSort::Rule, "rule", "sort-rule") }
                    { sort_header(RuleSort::Cases, "inputs", "sort-cases") }
                    { sort_header(RuleSort::Accuracy, "accuracy", "sort-accuracy") }
                    { sort_header(RuleSort::Kind, "kind", "sort-kind") }
                </tr></thead>
                <tbody>
                    { for rows.iter().map(|row| {
                        let key = (row.group, row.rule);
                        let dispatch = dispatch.clone();
                        let selected = inspector.rules.rule == Some(key);
                        html! {
                            <tr class={classes!(selected.then_some("selected"))}>
                                <td>{ group_name(row.group) }</td>
                                <th scope="row"><button class="open-rule mono" onclick={Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Inspector(InspectorAction::InspectRule(Some(key)))))}>{ row.text.to_string() }</button></th>
                                <td>{ row.tally.total }</td>
                                <td>{ score(&row.tally) }</td>
                                <td>{ row.kind().name() }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
            </div>
            if total_rows > rows.len() {
                <button id="more-rules" onclick={{ let shown = shown_rules.clone(); Callback::from(move |_: MouseEvent| shown.set(*shown + RULE_PAGE)) }}>
                    { format!("Show more ({} of {total_rows} shown)", rows.len()) }
                </button>
            }
            if let Some((group, text, cases)) = detail {
                <div class="rule-detail" id="rule-detail">
                    <h3>{ format!("{} ({} rule)", text.as_ref().map(|t| t.to_string()).unwrap_or_default(), group_name(group)) }
                        <button class="close" onclick={{ let dispatch = dispatch.clone(); Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Inspector(InspectorAction::InspectRule(None)))) }}>{ "Close" }</button></h3>
                    <div class="table-scroll">
                    <table class="predictions" aria-label={format!("Inputs of {}", text.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "the rule".into()))}>
                        <thead><tr><th scope="col">{ "input" }</th><th scope="col">{ "expected" }</th><th scope="col">{ "model (latest)" }</th><th scope="col">{ "answers at each evaluation" }</th><th scope="col"><span class="visually-hidden">{ "attention" }</span></th></tr></thead>
                        <tbody>
                            { for cases.iter().map(|case| {
                                let latest_output = case.latest().unwrap_or_default().to_string();
                                let ask = text.clone().map(|rule| {
                                    let dispatch = dispatch.clone();
                                    let z = case.z.clone();
                                    Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::ask_about(&rule, &z)))
                                });
                                html! {
                                    <tr class={if case.failed() { "wrong" } else { "right" }}>
                                        <td class="mono">{ &case.z }{ if case.noop { " (no-op)" } else { "" } }</td>
                                        <td class="mono">{ &case.expected }</td>
                                        <td class="mono">{ diff_html(&case.expected, &latest_output) }</td>
                                        <td class="mono history">{ for case.answers.iter().map(|(step, output, correct)| html! {
                                            <span class={if *correct { "ok" } else { "ko" }} title={format!("step {step}")}>{ format!("{step}: {}{} ", if output.is_empty() { "∅" } else { output }, if *correct { "✓" } else { "✗" }) }</span>
                                        }) }</td>
                                        <td>if let Some(ask) = ask { <button class="attend" onclick={ask}>{ "Attention" }</button> }</td>
                                    </tr>
                                }
                            }) }
                        </tbody>
                    </table>
                    </div>
                    if cases.is_empty() { <p class="muted">{ "No inputs to show." }</p> }
                </div>
            }
        </section>
    }
}
