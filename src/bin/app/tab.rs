//! Which tab owns what: every tab of the page has an owner id, kept in its `sessionStorage` (so a
//! reload keeps it, and another tab has its own) and held as a Web Lock (`navigator.locks`) for as
//! long as the tab lives. The tab's entries in the browser's storage carry the id; another tab reads
//! whether their owner is alive from the locks held, and offers to resume a run only when its owner
//! is gone. Where the browser has no Web Locks (an old browser, a page served over plain http from
//! another machine), every other tab's entries count as alive: nothing is adopted by mistake; where
//! it has them but they do not answer, the tab goes on as if it had none.

use crate::store::field;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

const SESSION_KEY: &str = "idp-tab-owner";
const LOCK_PREFIX: &str = "idp-owner-";
/// How long the lock manager may take to answer beyond what was asked of it, in ms.
const ANSWER_MS: u32 = 1_000;

fn locks() -> Option<JsValue> {
    let locks = field(&field(&js_sys::global(), "navigator"), "locks");
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}

fn call(target: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    field(target, method)
        .dyn_into::<js_sys::Function>()?
        .apply(target, args)
}

/// A fresh id: the time and a random number, enough to tell the tabs of one browser apart.
fn fresh_id() -> String {
    format!(
        "{:x}-{:06x}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 16_777_216.0) as u32
    )
}

/// Whether this tab took the lock of its id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    Taken,
    /// Another tab still holds it.
    Refused,
    /// The browser has no Web Locks here, or they do not answer: nobody can tell.
    Unknown,
}

/// Takes the lock of `id` for the life of the tab; `Refused` when another tab still holds it after
/// `wait_ms` (a reload's old page lets go of it as it unloads: it is waited for a moment).
async fn hold(id: &str, wait_ms: u32) -> Held {
    let Some(locks) = locks() else {
        return Held::Unknown;
    };
    let mut resolve_taken = None;
    let taken = Promise::new(&mut |resolve, _| resolve_taken = Some(resolve));
    let resolve_taken = resolve_taken.expect("the promise's executor ran");
    let refused = resolve_taken.clone();
    // Called with the lock once it is free; the lock lasts until the returned promise settles, and
    // this one never does.
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = resolve_taken.call1(&JsValue::NULL, &JsValue::TRUE);
        Promise::new(&mut |_, _| {}).into()
    });
    let options = Object::new();
    let abort = field(&js_sys::global(), "AbortSignal");
    if let Ok(signal) = call(&abort, "timeout", &Array::of1(&JsValue::from(wait_ms))) {
        let _ = Reflect::set(&options, &JsValue::from_str("signal"), &signal);
    } else {
        let _ = Reflect::set(&options, &JsValue::from_str("ifAvailable"), &JsValue::TRUE);
    }
    let name = JsValue::from_str(&format!("{LOCK_PREFIX}{id}"));
    let Ok(request) = call(&locks, "request", &Array::of3(&name, &options, &callback)) else {
        return Held::Unknown;
    };
    // Still held when the wait ends: the request is aborted and rejects.
    let on_refused = Closure::once_into_js(move |_: JsValue| {
        let _ = refused.call1(&JsValue::NULL, &JsValue::FALSE);
    });
    let _ = call(&request, "catch", &Array::of1(&on_refused));
    // A lock manager that never answers (seen in frames whose storage the browser holds back)
    // counts as none: the tab goes on without a lock rather than wait.
    match crate::store::within(taken, wait_ms + ANSWER_MS)
        .await
        .and_then(|outcome| outcome.ok())
        .and_then(|v| v.as_bool())
    {
        Some(true) => Held::Taken,
        Some(false) => Held::Refused,
        None => Held::Unknown,
    }
}

/// Whether this page was loaded by a reload (the Navigation Timing entry's type).
fn reloaded() -> bool {
    let performance = field(&js_sys::global(), "performance");
    call(
        &performance,
        "getEntriesByType",
        &Array::of1(&"navigation".into()),
    )
    .ok()
    .map(|entries| field(&entries, "0"))
    .map(|entry| field(&entry, "type").as_string().as_deref() == Some("reload"))
    .unwrap_or(false)
}

/// This tab's owner id, its lock taken: the one kept in `sessionStorage` (a reload keeps it), or a
/// fresh one when there is none or another tab holds it (a duplicated tab copies `sessionStorage`).
/// Where no lock can tell (no Web Locks: plain http), the kept id is used only by a reload: a
/// duplicated tab, which copies `sessionStorage` too, gets its own rather than take over the run
/// of the tab it copied.
pub async fn owner() -> String {
    let session = web_sys::window().and_then(|w| w.session_storage().ok().flatten());
    let kept = session
        .as_ref()
        .and_then(|s| s.get_item(SESSION_KEY).ok().flatten());
    let mut id = kept.unwrap_or_else(fresh_id);
    loop {
        match hold(&id, 2000).await {
            Held::Taken => break,
            Held::Refused => id = fresh_id(),
            Held::Unknown if reloaded() => break,
            Held::Unknown => {
                id = fresh_id();
                break;
            }
        }
    }
    if let Some(s) = &session {
        let _ = s.set_item(SESSION_KEY, &id);
    }
    id
}

/// The owners whose tab is alive (holds its lock); `None` when the browser cannot tell.
pub async fn alive() -> Option<Vec<String>> {
    let locks = locks()?;
    let query = Promise::from(call(&locks, "query", &Array::new()).ok()?);
    let snapshot = crate::store::within(query, ANSWER_MS).await?.ok()?;
    let held: Array = field(&snapshot, "held").dyn_into().ok()?;
    Some(
        held.iter()
            .filter_map(|lock| field(&lock, "name").as_string())
            .filter_map(|name| name.strip_prefix(LOCK_PREFIX).map(str::to_string))
            .collect(),
    )
}
