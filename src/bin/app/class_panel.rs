//! The class on the page: a student's view (what it trains, its result codes) and the teacher's
//! (the join link and its QR code, the students, the flags, and the class's curve and phase
//! diagram), and the exchanges with the class's hub. What to do next is decided by the page state
//! ([`ClassRoom`]); this file only carries it out: one loop per page asks the hub for the plan, a
//! seat, work, and sends results (again, until taken) and heartbeats; the teacher's page listens
//! to the hub's live socket.

use crate::app::{Dispatch, on_click};
use crate::chart_view::ChartView;
use crate::run_panel::{CHART_SIZE, format_duration};
use crate::sweep_panel::SweepViews;
use instruction_diversity::page::heatmap::Grid;
use instruction_diversity::page::link::{ClassRole, class_fragment, write_class};
use instruction_diversity::page::state::Action;
use instruction_diversity::page::state::class::{ClassAction, ClassRoom, Training, Unsent};
use instruction_diversity::page::state::library::{FinishedRun, Kept, Library};
use instruction_diversity::page::state::sweep::{SweepQueue, SweepState, SweepStatus};
use instruction_diversity::study::class::{ClassPlan, HubState, HubWork, qr_svg};
use instruction_diversity::study::record::SweepReport;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ClassProps {
    pub room: Rc<ClassRoom>,
    /// Steps taken by the run in training, and its length (the heartbeat's progress).
    pub step: usize,
    pub total: usize,
    /// Whether a run trains.
    pub active: bool,
    pub dispatch: Dispatch,
}

/// Waits `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A request to the hub: `GET` without a body, else `POST` of `body` (JSON unless `text`). An
/// https page reaching a hub on the classroom network asks for the local network
/// (`targetAddressSpace: "local"`, Chrome 142+); browsers without it ignore the key.
///
/// # Errors
/// Why there is no answer (the network, or the hub's `error` for a refusal), and the status
/// (0 when the hub was not reached).
async fn call(
    hub: &str,
    path: &str,
    body: Option<(String, bool)>,
) -> Result<String, (u16, String)> {
    let window = web_sys::window().ok_or((0, "no window".to_string()))?;
    let init = web_sys::RequestInit::new();
    if let Some((body, text)) = body {
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let headers = web_sys::Headers::new().map_err(|_| (0, "no headers".to_string()))?;
        let kind = if text {
            "text/plain"
        } else {
            "application/json"
        };
        let _ = headers.set("content-type", kind);
        init.set_headers(&headers);
    }
    if !hub.is_empty() {
        let _ = js_sys::Reflect::set(&init, &"targetAddressSpace".into(), &"local".into());
    }
    let url = format!("{hub}{path}");
    let response =
        wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&url, &init))
            .await
            .map_err(|e| {
                let why = e
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_else(|| "no answer".into());
                (
                    0,
                    format!(
                        "the hub at {} does not answer ({why})",
                        if hub.is_empty() {
                            "this page's server"
                        } else {
                            hub
                        }
                    ),
                )
            })?;
    let response: web_sys::Response = response.unchecked_into();
    let status = response.status();
    let text = match response.text() {
        Ok(p) => wasm_bindgen_futures::JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if response.ok() {
        Ok(text)
    } else {
        let why = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
            .unwrap_or_else(|| format!("the hub answered {status}"));
        Err((status, why))
    }
}

/// The session's key for this page's student id at a class: a reload keeps its seat.
fn student_key(class: &str) -> String {
    format!("idp-class-student-{class}")
}

fn session_get(key: &str) -> Option<String> {
    web_sys::window()?
        .session_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

fn session_set(key: &str, value: &str) {
    if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.session_storage()) {
        let _ = storage.set_item(key, value);
    }
}

/// What the student's loop reads of the page at each turn.
#[derive(Clone, Default)]
struct Seen {
    room: Rc<ClassRoom>,
    step: usize,
    total: usize,
    active: bool,
}

/// One turn of a student's loop: the one exchange the state asks for. Returns whether it
/// dispatched (the loop then waits for the state to move).
async fn student_turn(hub: &str, seen: &Seen, last_beat: &mut f64, dispatch: &Dispatch) -> bool {
    let room = &seen.room;
    let act = |a: ClassAction| dispatch.dispatch(Action::Class(a));
    if room.error.is_some() || room.finished {
        return false;
    }
    let Some(class) = &room.class else {
        match call(hub, "/class/plan", None).await {
            Ok(text) => match serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("class").cloned())
                .ok_or_else(|| "not a class plan".to_string())
                .and_then(|v| ClassPlan::from_json(&v.to_string()).map_err(|e| e.to_string()))
            {
                Ok(plan) => act(ClassAction::Planned(Box::new(plan))),
                Err(e) => act(ClassAction::Error(format!(
                    "the hub's plan cannot be read: {e}"
                ))),
            },
            Err((_, why)) => act(ClassAction::Trouble(format!(
                "{why}. If this device cannot reach the teacher's laptop (a guest network, or a browser that blocks addresses on the local network), ask for the class's result-codes link: it trains without the hub."
            ))),
        }
        return true;
    };
    let Some(student) = &room.student else {
        let body = serde_json::json!({ "student": session_get(&student_key(&class.id)) });
        match call(hub, "/class/join", Some((body.to_string(), false))).await {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let id = v["student"].as_str().unwrap_or_default().to_string();
                let seat = v["seat"].as_u64().unwrap_or(0) as usize;
                session_set(&student_key(&class.id), &id);
                act(ClassAction::Joined { student: id, seat });
            }
            Err((_, why)) => act(ClassAction::Trouble(why)),
        }
        return true;
    };
    if let Some(unsent) = room.unsent.first() {
        let (path, body) = match unsent {
            Unsent::Result(result) => (
                "/class/result",
                serde_json::json!({ "student": student, "result": result }),
            ),
            Unsent::Canary(summary) => (
                "/class/canary",
                serde_json::json!({ "student": student, "seen_accuracy": summary.seen_accuracy, "unseen_accuracy": summary.unseen_accuracy }),
            ),
        };
        match call(hub, path, Some((body.to_string(), false))).await {
            Ok(_) => act(ClassAction::Delivered),
            // The hub refused it for good (another build, other settings): said, and dropped,
            // its code still shown.
            // The hub was restarted and forgot this student: join again, then send it.
            Err((404, _)) => act(ClassAction::Forgotten),
            Err((400..=499, why)) => {
                act(ClassAction::Delivered);
                act(ClassAction::Error(format!(
                    "the hub refused this result: {why}"
                )));
            }
            Err((_, why)) => {
                act(ClassAction::Trouble(format!(
                    "{why}; your result is kept and sent again, and its code is below"
                )));
                sleep(2000).await;
            }
        }
        return true;
    }
    // A nickname typed since the hub was last told.
    if room.name != room.name_sent {
        let body = serde_json::json!({ "student": student, "name": room.name });
        match call(hub, "/class/join", Some((body.to_string(), false))).await {
            Ok(_) => act(ClassAction::NameSent(room.name.clone())),
            Err((_, why)) => act(ClassAction::Trouble(why)),
        }
        return true;
    }
    if room.wants_work() && !seen.active {
        match call(
            hub,
            "/class/work",
            Some((serde_json::json!({ "student": student }).to_string(), false)),
        )
        .await
        {
            Ok(text) => match serde_json::from_str::<HubWork>(&text) {
                Ok(work) => act(ClassAction::Work(work)),
                Err(e) => act(ClassAction::Trouble(format!(
                    "the hub's answer cannot be read: {e}"
                ))),
            },
            // The hub was restarted and forgot this student: join again.
            Err((404, _)) => act(ClassAction::Forgotten),
            Err((_, why)) => act(ClassAction::Trouble(why)),
        }
        return true;
    }
    if room.training.is_some() && seen.active {
        let now = js_sys::Date::now();
        if now - *last_beat >= 2000.0 {
            *last_beat = now;
            let body =
                serde_json::json!({ "student": student, "step": seen.step, "total": seen.total });
            match call(hub, "/class/progress", Some((body.to_string(), false))).await {
                Ok(_) if room.trouble.is_some() => act(ClassAction::Reached),
                Ok(_) => {}
                Err((404, _)) => {}
                Err((_, why)) => act(ClassAction::Trouble(why)),
            }
        }
    }
    false
}

/// `?key=` and the teacher's key, when the page has one.
fn key_query(key: Option<&str>) -> String {
    key.map(|k| format!("?key={}", js_sys::encode_uri_component(k)))
        .unwrap_or_default()
}

/// Listens to the hub's live socket, reconnecting when it closes.
fn listen(hub: &str, key: Option<String>, dispatch: Dispatch) {
    let url = if hub.is_empty() {
        let location = web_sys::window().map(|w| w.location());
        let host = location
            .as_ref()
            .and_then(|l| l.host().ok())
            .unwrap_or_default();
        let secure = location
            .and_then(|l| l.protocol().ok())
            .is_some_and(|p| p == "https:");
        format!("{}://{host}/class/live", if secure { "wss" } else { "ws" })
    } else {
        format!("{}/class/live", hub.replacen("http", "ws", 1))
    };
    let url = format!("{url}{}", key_query(key.as_deref()));
    let Ok(socket) = web_sys::WebSocket::new(&url) else {
        dispatch.dispatch(Action::Class(ClassAction::Trouble(format!(
            "cannot open {url}"
        ))));
        return;
    };
    let on_message = {
        let dispatch = dispatch.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            match serde_json::from_str::<HubState>(&text) {
                Ok(state) => dispatch.dispatch(Action::Class(ClassAction::Hub(Box::new(state)))),
                Err(e) => dispatch.dispatch(Action::Class(ClassAction::Trouble(format!(
                    "the hub's state cannot be read: {e}"
                )))),
            }
        })
    };
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let hub = hub.to_string();
    let on_close = Closure::once_into_js(move || {
        dispatch.dispatch(Action::Class(ClassAction::Trouble(
            "the hub does not answer: is `idp class` still running? Trying again…".into(),
        )));
        wasm_bindgen_futures::spawn_local(async move {
            sleep(2000).await;
            listen(&hub, key, dispatch);
        });
    });
    socket.set_onclose(Some(on_close.unchecked_ref()));
}

/// The class's sweep report drawn with the sweep views: a queue and library of its own (its runs
/// are not the page's).
fn class_views(report: &SweepReport, dispatch: &Dispatch) -> Html {
    let mut library = Library::default();
    for (i, record) in report.runs.iter().enumerate() {
        library.runs.push(Rc::new(FinishedRun {
            name: format!("cell {}", i + 1),
            record: Rc::new(record.clone()),
            history: Vec::new(),
            kept: Kept::Never,
            sweep_key: None,
            helper: None,
        }));
    }
    let queue = SweepQueue {
        sweep: Some(SweepState::shown(
            report.spec.clone(),
            (0..report.runs.len()).collect(),
            SweepStatus::Imported,
            None,
            String::new(),
        )),
        ..SweepQueue::default()
    };
    let curve = Grid::bin(&report.spec, report.runs.iter()).curve();
    html! {
        <div class="class-views">
            if !curve.x_values().is_empty() {
                <ChartView chart={curve} size={CHART_SIZE} id="class-curve" />
            }
            <SweepViews queue={Rc::new(queue)} library={Rc::new(library)} seconds_left={None::<f64>} dispatch={dispatch.clone()} open={false} />
        </div>
    }
}

/// A QR code drawn from SVG text made by [`qr_svg`] (our own text, never a hub's).
fn qr(text: &str, label: &str, id: &str) -> Html {
    let Some(svg) = qr_svg(text, 180) else {
        return html! {};
    };
    let node = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("div").ok());
    match node {
        Some(div) => {
            div.set_inner_html(&svg);
            div.set_class_name("qr");
            div.set_id(id);
            let _ = div.set_attribute("role", "img");
            let _ = div.set_attribute("aria-label", label);
            Html::VRef(div.into())
        }
        None => html! {},
    }
}

/// The class panel: a student's or the teacher's.
#[function_component(ClassPanel)]
pub fn class_panel(props: &ClassProps) -> Html {
    let seen = use_mut_ref(Seen::default);
    *seen.borrow_mut() = Seen {
        room: props.room.clone(),
        step: props.step,
        total: props.total,
        active: props.active,
    };
    let hub = props.room.hub_url().map(String::from);
    let role = props.room.link.as_ref().map(|l| l.role);
    let key = props.room.link.as_ref().and_then(|l| l.key.clone());
    {
        let seen = seen.clone();
        let dispatch = props.dispatch.clone();
        use_effect_with((hub.clone(), role, key), move |(hub, role, key)| {
            let key = key.clone();
            let stop = Rc::new(RefCell::new(false));
            match (hub.clone(), role) {
                (Some(hub), Some(ClassRole::Student)) => {
                    let stop = stop.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let mut last_beat = 0.0;
                        while !*stop.borrow() {
                            let now = seen.borrow().clone();
                            if student_turn(&hub, &now, &mut last_beat, &dispatch).await {
                                // Wait for the state to move before the next exchange, so one
                                // answer is never asked for twice.
                                for _ in 0..50 {
                                    sleep(100).await;
                                    if !Rc::ptr_eq(&seen.borrow().room, &now.room) {
                                        break;
                                    }
                                }
                            }
                            let pause = if seen.borrow().room.waiting
                                || seen.borrow().room.trouble.is_some()
                            {
                                1500
                            } else {
                                300
                            };
                            sleep(pause).await;
                        }
                    });
                }
                (Some(hub), Some(ClassRole::Teacher)) => listen(&hub, key, dispatch),
                _ => {}
            }
            move || *stop.borrow_mut() = true
        });
    }
    {
        // The page's one draw: the cell of a student without a seat stays put across renders.
        let dispatch = props.dispatch.clone();
        use_effect_with((), move |()| {
            dispatch.dispatch(Action::Class(ClassAction::Drawn(js_sys::Math::random())));
        });
    }
    let room = &props.room;
    let dispatch = &props.dispatch;
    let Some(link) = &room.link else {
        return html! {};
    };
    html! {
        <section class="panel class" aria-labelledby="class-title" id="class-panel">
            <h2 id="class-title">{ match link.role {
                ClassRole::Student => "Your part of the class's sweep",
                ClassRole::Teacher => "The class's sweep",
            } }</h2>
            if let Some(e) = &room.error {
                <p class="error" role="alert" id="class-error">{ e }</p>
            }
            if let Some(t) = &room.trouble {
                <p class="warning" role="status" id="class-trouble">{ t }</p>
            }
            { match link.role {
                ClassRole::Student => student_view(room, props, dispatch),
                ClassRole::Teacher => html! { <TeacherView room={room.clone()} dispatch={dispatch.clone()} /> },
            } }
        </section>
    }
}

fn cell_words(class: &ClassPlan, cell: usize) -> String {
    let c = &class.plan.cells[cell];
    let axes: Vec<String> = class
        .plan
        .spec
        .axes
        .iter()
        .zip(&c.labels)
        .map(|(a, l)| format!("{} = {l}", a.name))
        .collect();
    format!("cell {} ({}, seed {})", cell + 1, axes.join(", "), c.seed)
}

fn student_view(room: &ClassRoom, props: &ClassProps, dispatch: &Dispatch) -> Html {
    let Some(class) = &room.class else {
        return html! { <p id="class-status">{ "Reaching the class…" }</p> };
    };
    let status = match (room.training, room.hub_url()) {
        (Some(Training::Canary), _) => format!(
            "Training the canary: a short run whose answer the hub knows, a check of this device ({} of {} steps).",
            props.step, props.total
        ),
        (Some(Training::Cell(cell)), _) => format!(
            "Training {} for the class: step {} of {}.",
            cell_words(class, cell),
            props.step,
            props.total
        ),
        (None, _) if room.finished => "Every cell of the class is done. Thank you!".into(),
        (None, Some(_)) if room.waiting => {
            "Every cell is being trained: waiting for one to come free.".into()
        }
        (None, Some(_)) => "Asking the hub for a cell…".into(),
        (None, None) => "Train your cell, then hand its result code to your teacher.".into(),
    };
    let seat = room
        .seat
        .filter(|s| *s > 0)
        .map(|s| format!("Seat {s} · "))
        .unwrap_or_default();
    let train_mine = room.seat_cell().map(|cell| {
        let action = Action::Class(ClassAction::Work(HubWork::Cell {
            cell,
            replica: false,
        }));
        (cell, on_click(dispatch, action))
    });
    let on_name = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                dispatch.dispatch(Action::Class(ClassAction::Name(input.value())));
            }
        })
    };
    html! {
        <>
            <p class="muted">{ format!("{seat}Class {} · {} cells · build {}", class.id, class.len(), class.build) }</p>
            if room.hub_url().is_some() {
                <label class="field" for="class-name"><span class="name">{ "Your nickname (optional; the teacher can hide it on the projector)" }</span>
                    <input id="class-name" maxlength="24" value={room.name.clone()} onchange={on_name} /></label>
            }
            <p id="class-status" role="status">{ status }</p>
            if room.hub_url().is_none() && room.training.is_none() {
                if let Some((cell, onclick)) = train_mine {
                    <button id="class-train" {onclick} disabled={props.active}>{ format!("Train {}", cell_words(class, cell)) }</button>
                }
            }
            if !room.codes.is_empty() {
                <div id="class-codes">
                    <h3>{ "Result codes" }</h3>
                    <p class="muted">{ if room.hub_url().is_some() {
                        "Sent to the hub. If it cannot be reached, paste these codes where your teacher asks (chat, LMS, a form)."
                    } else {
                        "Paste this code where your teacher asks (chat, LMS, a form), or let the teacher scan its QR code."
                    } }</p>
                    { for room.codes.iter().map(|(cell, code)| html! {
                        <div class="result-code">
                            <p>{ format!("{}: ", cell_words(class, *cell)) }<code class="code">{ code }</code></p>
                            { qr(code, "QR code of the result code", &format!("class-qr-{cell}")) }
                        </div>
                    }) }
                </div>
            }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct TeacherProps {
    room: Rc<ClassRoom>,
    dispatch: Dispatch,
}

/// The teacher's view: the hub's dashboard, or the codes pasted without one.
#[function_component(TeacherView)]
fn teacher_view(props: &TeacherProps) -> Html {
    let (room, dispatch) = (&props.room, &props.dispatch);
    let paste = use_state(String::new);
    let on_input = {
        let paste = paste.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(area) = e.target_dyn_into::<web_sys::HtmlTextAreaElement>() {
                paste.set(area.value());
            }
        })
    };
    let hub = room.hub_url().map(String::from);
    let key = room.link.as_ref().and_then(|l| l.key.clone());
    let on_add = {
        let paste = paste.clone();
        let dispatch = dispatch.clone();
        Callback::from(move |_: MouseEvent| {
            let text = (*paste).clone();
            match &hub {
                // The hub takes them (and keeps them in its results file).
                Some(hub) => {
                    let hub = hub.clone();
                    let dispatch = dispatch.clone();
                    let path = format!("/class/codes{}", key_query(key.as_deref()));
                    wasm_bindgen_futures::spawn_local(async move {
                        match call(&hub, &path, Some((text, true))).await {
                            Ok(answer) => {
                                let v: serde_json::Value =
                                    serde_json::from_str(&answer).unwrap_or_default();
                                if let Some(refused) =
                                    v["refused"].as_array().filter(|r| !r.is_empty())
                                {
                                    let lines: Vec<String> = refused
                                        .iter()
                                        .filter_map(|r| r.as_str().map(String::from))
                                        .collect();
                                    dispatch.dispatch(Action::Class(ClassAction::Error(format!(
                                        "refused: {}",
                                        lines.join("; ")
                                    ))));
                                }
                            }
                            Err((_, why)) => {
                                dispatch.dispatch(Action::Class(ClassAction::Trouble(why)))
                            }
                        }
                    });
                }
                None => dispatch.dispatch(Action::Class(ClassAction::Paste(text))),
            }
            paste.set(String::new());
        })
    };
    // A file of codes (an LMS's export, a chat saved as text) is read as if pasted.
    let on_file = {
        let paste = paste.clone();
        Callback::from(move |e: Event| {
            let Some(file) = e
                .target_dyn_into::<web_sys::HtmlInputElement>()
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
            else {
                return;
            };
            let paste = paste.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(text) = wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    paste.set(text.as_string().unwrap_or_default());
                }
            });
        })
    };
    let codes_box = html! {
        <div class="paste-codes">
            <label for="class-paste">{ "Result codes (paste many at once, one or more per line)" }</label>
            <textarea id="class-paste" rows="4" value={(*paste).clone()} oninput={on_input} />
            <label for="class-codes-file">{ "or read them from a file " }</label>
            <input type="file" id="class-codes-file" accept=".txt,.csv,text/plain" onchange={on_file} />
            <button id="class-add-codes" onclick={on_add}>{ "Add the codes" }</button>
        </div>
    };
    match (&room.hub, room.hub_url()) {
        (Some(state), Some(_)) => hub_dashboard(state, room.hide_names, codes_box, dispatch),
        (None, Some(_)) => html! { <p id="class-status">{ "Reaching the hub…" }</p> },
        (_, None) => {
            let Some(class) = &room.class else {
                return html! {};
            };
            let tallies = room.pasted.tallies(class.len());
            let student_link = student_link(class);
            html! {
                <>
                    <p>{ "Students open this link (or scan it), train a cell, and paste their result code to you; paste them below. Give each student a seat: the link with " }
                        <code>{ "&seat=1" }</code>{ ", " }<code>{ "&seat=2" }</code>{ ", … at its end trains cell 1, 2, … (without a seat, each page picks a cell at random, and some cells may be trained twice while others wait)." }</p>
                    <input readonly=true class="mono" id="class-student-link" value={student_link.clone()} aria-label="The students' link" />
                    { qr(&student_link, "QR code of the students' link", "class-join-qr") }
                    <p id="class-tallies" role="status">{ format!("{} of {} cells done · {} missing · {} disputed", tallies.done, class.len(), tallies.missing, tallies.disputed) }</p>
                    { codes_box }
                    if !room.refused.is_empty() {
                        <ul class="error" id="class-refused">{ for room.refused.iter().map(|r| html! { <li>{ r }</li> }) }</ul>
                    }
                    if let Some(report) = room.pasted_report() {
                        { class_views(&report, dispatch) }
                    }
                </>
            }
        }
    }
}

/// The students' link of a class without a hub: the page's address and the class's fragment.
fn student_link(class: &ClassPlan) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map(|h| h.split('#').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let fragment = class_fragment(class, ClassRole::Student, None).unwrap_or_default();
    format!("{base}#{fragment}")
}

fn hub_dashboard(state: &HubState, hide_names: bool, codes_box: Html, dispatch: &Dispatch) -> Html {
    let on_hide = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let checked = e
                .target_dyn_into::<web_sys::HtmlInputElement>()
                .is_some_and(|i| i.checked());
            dispatch.dispatch(Action::Class(ClassAction::HideNames(checked)));
        })
    };
    let filled = state
        .filled_seconds
        .map(|s| format!(" · filled in {}", format_duration(s)))
        .unwrap_or_default();
    html! {
        <>
            <div class="join">
                <p>{ "Students open " }<a id="class-join-url" href={state.join_url.clone()}>{ &state.join_url }</a>{ " or scan:" }</p>
                { qr(&state.join_url, "QR code of the join link", "class-join-qr") }
            </div>
            <p id="class-tallies" role="status">{ format!("{} of {} cells done · {} missing · {} disputed · {} results · {} handed out again{filled}",
                state.done, state.cells, state.missing, state.disputed, state.results, state.reissued) }</p>
            <label class="check"><input type="checkbox" id="class-hide-names" checked={hide_names} onchange={on_hide} />{ " Hide names (for the projector)" }</label>
            <table class="students" id="class-students">
                <thead><tr><th scope="col">{ "Seat" }</th><th scope="col">{ "Name" }</th><th scope="col">{ "Training" }</th><th scope="col">{ "Canary" }</th><th scope="col">{ "Results" }</th></tr></thead>
                <tbody>
                    { for state.students.iter().map(|s| {
                        let work = match &s.work {
                            _ if s.gone => "gone silent".to_string(),
                            Some(HubWork::Canary) => format!("canary, step {} of {}", s.step, s.total),
                            Some(HubWork::Cell { cell, replica }) => format!("cell {}{}, step {} of {}", cell + 1, if *replica { " (second training)" } else { "" }, s.step, s.total),
                            Some(HubWork::Wait) => "waiting".into(),
                            Some(HubWork::Done) => "done".into(),
                            None => "—".into(),
                        };
                        html! {
                            <tr class={classes!(s.gone.then_some("gone"))}>
                                <td>{ s.seat }</td>
                                <td>{ if hide_names { "hidden".to_string() } else { s.name.clone() } }</td>
                                <td>{ work }</td>
                                <td>{ format!("{:?}", s.canary).to_lowercase() }</td>
                                <td>{ s.results }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
            if !state.flags.is_empty() {
                <details class="flags" id="class-flags" open=true>
                    <summary>{ format!("{} to look at", state.flags.len()) }</summary>
                    <ul>{ for state.flags.iter().map(|f| html! { <li>{ f }</li> }) }</ul>
                </details>
            }
            { class_views(&state.report, dispatch) }
            { codes_box }
            if let Some(fragment) = &state.codes_fragment {
                <p class="muted">{ "Students whose device cannot reach the hub (a guest network, say) can train with " }
                    <a id="class-codes-link" href={format!("#{fragment}{}", write_class(&state.class, ClassRole::Teacher))}>{ "result codes" }</a>
                    { ": they hand in a code, which you paste above." }</p>
            }
        </>
    }
}
