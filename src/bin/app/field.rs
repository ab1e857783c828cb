//! A text or number input that keeps what a person types until they leave the field.
//!
//! yew writes a controlled input's `value` into the element whenever its component redraws and the
//! element's text differs (yew 0.23, `Value::apply_diff`: "refresh value from the DOM"). The page
//! commits a field on `change` (when the person leaves it), so every redraw between two keystrokes
//! put the committed value back: typing "4, 16, 64" into the sweep builder while a sweep trained
//! (its queue redraws the builder at each report) left "4,84". Here the typed text is a draft, shown
//! instead of the page's value until the field commits it or the page's value changes (a link
//! opened, a reload restored). Not a library: yew has no such input, and the fix is this one state.

use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct DraftInputProps {
    pub id: AttrValue,
    /// The page's value (shown when nothing is being typed).
    pub value: AttrValue,
    /// Called with the field's text when the person commits it (the `change` event).
    pub onchange: Callback<String>,
    /// The input's `type`: `text` (the default) or `number`.
    #[prop_or(AttrValue::Static("text"))]
    pub kind: AttrValue,
    #[prop_or_default]
    pub class: Classes,
    #[prop_or_default]
    pub min: Option<AttrValue>,
    #[prop_or_default]
    pub max: Option<AttrValue>,
    #[prop_or_default]
    pub step: Option<AttrValue>,
    #[prop_or_default]
    pub disabled: bool,
    #[prop_or_default]
    pub title: Option<AttrValue>,
    #[prop_or_default]
    pub placeholder: Option<AttrValue>,
    #[prop_or_default]
    pub aria_label: Option<AttrValue>,
    /// Changed when the page's values were replaced from outside (a link opened): the draft is
    /// dropped even where this field's value stayed the same.
    #[prop_or_default]
    pub reset: u64,
}

/// An input that shows its draft (the text typed since the last commit) over the page's value.
#[function_component(DraftInput)]
pub fn draft_input(props: &DraftInputProps) -> Html {
    let draft = use_state_eq(|| None::<String>);
    {
        // A new value from the page replaces what was being typed, and so do the field being
        // disabled or enabled (a run started or ended) and a link opened: the page shows what it
        // will use.
        let draft = draft.clone();
        use_effect_with(
            (props.value.clone(), props.disabled, props.reset),
            move |_| {
                draft.set(None);
                || ()
            },
        );
    }
    let oninput = {
        let draft = draft.clone();
        Callback::from(move |e: InputEvent| {
            draft.set(Some(e.target_unchecked_into::<HtmlInputElement>().value()));
        })
    };
    let onchange = {
        let draft = draft.clone();
        let commit = props.onchange.clone();
        Callback::from(move |e: Event| {
            let text = e.target_unchecked_into::<HtmlInputElement>().value();
            // Committed: the page's value (the new one, or the old one with an error if the text
            // was refused) is shown from now on.
            draft.set(None);
            commit.emit(text);
        })
    };
    // A field disabled meanwhile (a run started by a link, say) shows the value in use.
    let value = (*draft)
        .clone()
        .filter(|_| !props.disabled)
        .map(AttrValue::from)
        .unwrap_or_else(|| props.value.clone());
    html! {
        <input id={props.id.clone()} type={props.kind.clone()} class={props.class.clone()}
            min={props.min.clone()} max={props.max.clone()} step={props.step.clone()}
            title={props.title.clone()} placeholder={props.placeholder.clone()}
            aria-label={props.aria_label.clone()} disabled={props.disabled}
            {value} {oninput} {onchange} />
    }
}
