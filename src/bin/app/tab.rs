//! Which tab owns what: every tab of the page has an owner id, kept in its `sessionStorage` (so a
//! reload keeps it, and another tab has its own) and held as a Web Lock (`navigator.locks`) for as
//! long as the tab lives. The tab's entries in the browser's storage carry the id; another tab reads
//! whether their owner is alive from the locks held, and offers to resume a run only when its owner
//! is gone. Where the browser has no Web Locks (an old browser, a page served over plain http from
//! another machine), every other tab's entries count as alive: nothing is adopted by mistake; where
//! it has them but they do not answer, the tab goes on as if it had none.

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

const SESSION_KEY: &str = "idp-tab-owner";
const LOCK_PREFIX: &str = "idp-owner-";
/// How long the lock manager may take to answer beyond what was asked of it, in ms.
const ANSWER_MS: u32 = 1_000;

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn locks() -> Option<JsValue> {
    let locks = get(&get(&js_sys::global(), "navigator"), "locks");
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}

fn call(target: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    get(target, method)
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

/// Takes the lock of `id` for the life of the tab; `false` when another tab still holds it after
/// `wait_ms` (a reload's old page lets go of it as it unloads: it is waited for a moment).
async fn hold(id: &str, wait_ms: u32) -> bool {
    let Some(locks) = locks() else {
        return true;
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
    let abort = get(&js_sys::global(), "AbortSignal");
    if let Ok(signal) = call(&abort, "timeout", &Array::of1(&JsValue::from(wait_ms))) {
        let _ = Reflect::set(&options, &JsValue::from_str("signal"), &signal);
    } else {
        let _ = Reflect::set(&options, &JsValue::from_str("ifAvailable"), &JsValue::TRUE);
    }
    let name = JsValue::from_str(&format!("{LOCK_PREFIX}{id}"));
    let Ok(request) = call(&locks, "request", &Array::of3(&name, &options, &callback)) else {
        return true;
    };
    // Still held when the wait ends: the request is aborted and rejects.
    let on_refused = Closure::once_into_js(move |_: JsValue| {
        let _ = refused.call1(&JsValue::NULL, &JsValue::FALSE);
    });
    let _ = call(&request, "catch", &Array::of1(&on_refused));
    // A lock manager that never answers (seen in frames whose storage the browser holds back)
    // counts as none: the tab goes on without a lock rather than wait.
    crate::store::within(taken, wait_ms + ANSWER_MS)
        .await
        .and_then(|outcome| outcome.ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

/// This tab's owner id, its lock taken: the one kept in `sessionStorage` (a reload keeps it), or a
/// fresh one when there is none or another tab holds it (a duplicated tab copies `sessionStorage`).
pub async fn owner() -> String {
    let session = web_sys::window().and_then(|w| w.session_storage().ok().flatten());
    let kept = session
        .as_ref()
        .and_then(|s| s.get_item(SESSION_KEY).ok().flatten());
    let mut id = kept.unwrap_or_else(fresh_id);
    while !hold(&id, 2000).await {
        id = fresh_id();
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
    let held: Array = get(&snapshot, "held").dyn_into().ok()?;
    Some(
        held.iter()
            .filter_map(|lock| get(&lock, "name").as_string())
            .filter_map(|name| name.strip_prefix(LOCK_PREFIX).map(str::to_string))
            .collect(),
    )
}
