//! The browser's IndexedDB, as the page and the worker use it: two object stores of JSON text (`runs`,
//! keyed by an increasing number; `sweeps`, keyed by the sweep's key) and `checkpoint`, what a reload
//! needs to go on. Every tab of the page owns its entries there (see `tab.rs`): its run in progress
//! (`run:<owner>`: the meta as JSON text and the model's and optimizer's bytes, written by the
//! worker) and its running sweep's progress (`sweep:<owner>`, JSON text, written by the page), so two
//! tabs train two runs and keep both. Each request is wrapped in a promise, and every failure comes
//! back as `(error name, message)` so the page can say what happened in plain words (see
//! `storage::describe_failure`).
//!
//! Nothing waits on storage for long: opening the database settles within [`OPEN_BOUND_MS`] and
//! each request within [`REQUEST_BOUND_MS`], or storage is treated as unavailable (a
//! [`StorageProblem`]) and every later call fails at once, until an open that was still under way
//! answers after all. Where IndexedDB is missing, refused (an opaque origin), blocked by another
//! tab holding an older version, or silent (a frame whose storage the browser holds back), a run
//! trains without checkpoints; the page hears each change through [`watch`]. One connection is
//! kept per page or worker, and closed when a newer version of the page opens the database in
//! another tab (`versionchange`), so that tab's upgrade is never blocked by this one.

use instruction_diversity::page::state::sweep::MAX_WORKERS;
use instruction_diversity::page::storage::{StorageProblem, helper_owner, tab_of};
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::RefCell;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "instruction-diversity";
const VERSION: u32 = 2;
pub const RUNS: &str = "runs";
pub const SWEEPS: &str = "sweeps";
pub const CHECKPOINT: &str = "checkpoint";
/// The key of the run in progress that pages before per-tab keys wrote: read as an entry of a tab
/// that is gone.
pub const LEGACY_OWNER: &str = "legacy";

/// The key of a tab's run in progress, in [`CHECKPOINT`].
pub fn run_key(owner: &str) -> String {
    if owner == LEGACY_OWNER {
        "current".into()
    } else {
        format!("run:{owner}")
    }
}

/// The key of a tab's running sweep's progress, in [`CHECKPOINT`].
pub fn sweep_key(owner: &str) -> String {
    if owner == LEGACY_OWNER {
        "sweep".into()
    } else {
        format!("sweep:{owner}")
    }
}

/// A failure: the DOMException's name (`QuotaExceededError`, ...) and its message.
pub type Failure = (String, String);

/// How long opening the database may take before storage counts as not answering, in ms (an open
/// takes milliseconds; a blocked one says so at once).
pub const OPEN_BOUND_MS: u32 = 3_000;
/// How long one request may take, in ms (a checkpoint of the largest model the page trains is
/// written in well under a second).
pub const REQUEST_BOUND_MS: u32 = 10_000;

/// The page's (or worker's) connection to the database.
#[derive(Clone)]
enum Connection {
    /// Not opened yet, or an open failed in a way worth trying again.
    Closed,
    Open(IdbDatabase),
    /// Not usable now: every call fails at once with this (an open still under way may yet answer
    /// and make it `Open`).
    Unavailable(StorageProblem),
}

/// What is told of storage's changes (see [`watch`]).
type Watcher = Box<dyn Fn(Option<StorageProblem>)>;

thread_local! {
    static CONNECTION: RefCell<Connection> = const { RefCell::new(Connection::Closed) };
    /// Told each time storage becomes unavailable (with why) or available again (`None`).
    static WATCHER: RefCell<Option<Watcher>> = const { RefCell::new(None) };
}

/// Calls `watcher` each time storage becomes unavailable (with why) or answers again (`None`).
pub fn watch(watcher: impl Fn(Option<StorageProblem>) + 'static) {
    WATCHER.with(|w| *w.borrow_mut() = Some(Box::new(watcher)));
}

fn set_connection(next: Connection) {
    let said = |c: &Connection| match c {
        Connection::Unavailable(p) => Some(p.clone()),
        _ => None,
    };
    let before = CONNECTION.with(|c| std::mem::replace(&mut *c.borrow_mut(), next.clone()));
    let (was, now) = (said(&before), said(&next));
    if was != now && (now.is_some() || matches!(next, Connection::Open(_))) {
        WATCHER.with(|w| {
            if let Some(watcher) = w.borrow().as_ref() {
                watcher(now);
            }
        });
    }
}

fn unavailable(problem: StorageProblem) -> Failure {
    let failure = (problem.failure_name().to_string(), problem.failure_detail());
    set_connection(Connection::Unavailable(problem));
    failure
}

/// `value[key]`, or `undefined` (for the page's and the worker's objects that web-sys does not
/// type, and for checkpoint objects).
pub fn field(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A promise that resolves with `value` after `ms` (the global `setTimeout` of the page or the
/// worker, whichever runs this).
fn after(ms: u32, value: JsValue) -> Promise {
    Promise::new(&mut |resolve, _| {
        if let Ok(set_timeout) =
            field(&js_sys::global(), "setTimeout").dyn_into::<js_sys::Function>()
        {
            let value = value.clone();
            let on_time = Closure::once_into_js(move || {
                let _ = resolve.call1(&JsValue::NULL, &value);
            });
            let _ = set_timeout.call2(&JsValue::NULL, &on_time, &JsValue::from(ms));
        }
    })
}

/// `promise`'s outcome, or `None` when `ms` pass first.
pub async fn within(promise: Promise, ms: u32) -> Option<Result<JsValue, JsValue>> {
    let late = JsValue::from(Object::new());
    let race = Promise::race(&Array::of2(&promise, &after(ms, late.clone())));
    match JsFuture::from(race).await {
        Ok(value) if Object::is(&value, &late) => None,
        outcome => Some(outcome),
    }
}

/// Storage refused, with the browser's own words.
fn refused((name, message): Failure) -> Failure {
    unavailable(StorageProblem::Refused(
        format!("{name} {message}").trim().to_string(),
    ))
}

fn seconds(ms: u32) -> u32 {
    ms.div_ceil(1000)
}

fn failure(value: JsValue) -> Failure {
    let text = |key: &str| {
        Reflect::get(&value, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let (name, message) = (text("name"), text("message"));
    if name.is_empty() && message.is_empty() {
        (String::new(), format!("{value:?}"))
    } else {
        (name, message)
    }
}

/// Resolves with the request's result, or rejects with its error; a request that does not settle
/// within [`REQUEST_BOUND_MS`] makes storage unavailable (its connection is closed).
async fn finish(request: &IdbRequest) -> Result<JsValue, Failure> {
    let promise = Promise::new(&mut |resolve, reject| {
        let request_for_error = request.clone();
        let on_error = Closure::once_into_js(move |_: web_sys::Event| {
            let error = request_for_error
                .error()
                .ok()
                .flatten()
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        let request_for_result = request.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(
                &JsValue::NULL,
                &request_for_result.result().unwrap_or(JsValue::UNDEFINED),
            );
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    match within(promise, REQUEST_BOUND_MS).await {
        Some(outcome) => outcome.map_err(failure),
        None => {
            if let Connection::Open(database) = CONNECTION.with(|c| c.borrow().clone()) {
                database.close();
            }
            Err(unavailable(StorageProblem::NotAnswering {
                seconds: seconds(REQUEST_BOUND_MS),
            }))
        }
    }
}

/// Keeps a connection that answered (at once, or after the open was given up on): it is closed
/// when a newer version of the page asks for the database in another tab.
fn keep(database: IdbDatabase) {
    let closing = database.clone();
    let on_version_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        closing.close();
        set_connection(Connection::Unavailable(StorageProblem::Replaced));
    });
    database.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
    on_version_change.forget();
    // Closed by the browser (the reader cleared the site's data): the next call opens anew.
    let closed = database.clone();
    let on_close = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let ours = CONNECTION
            .with(|c| matches!(&*c.borrow(), Connection::Open(open) if Object::is(open, &closed)));
        if ours {
            set_connection(Connection::Closed);
        }
    });
    database.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
    set_connection(Connection::Open(database));
}

/// The page's database, opened (and created) on first use; at once when it is open or known to be
/// unavailable.
async fn open() -> Result<IdbDatabase, Failure> {
    match CONNECTION.with(|c| c.borrow().clone()) {
        Connection::Open(database) => return Ok(database),
        Connection::Unavailable(problem) => {
            return Err((problem.failure_name().into(), problem.failure_detail()));
        }
        Connection::Closed => {}
    }
    // `indexedDB` of the page or of the worker, whichever runs this.
    let Ok(factory) = field(&js_sys::global(), "indexedDB").dyn_into::<web_sys::IdbFactory>()
    else {
        return Err(unavailable(StorageProblem::Missing));
    };
    let request: IdbOpenDbRequest = match factory.open_with_u32(DATABASE, VERSION) {
        Ok(request) => request,
        // An opaque origin (a sandboxed frame), or site data blocked for this site.
        Err(e) => return Err(refused(failure(e))),
    };
    let on_upgrade = Closure::once_into_js(move |event: web_sys::Event| {
        let database: Option<IdbDatabase> = event
            .target()
            .and_then(|t| t.dyn_into::<IdbRequest>().ok())
            .and_then(|r| r.result().ok())
            .and_then(|r| r.dyn_into().ok());
        if let Some(database) = database {
            let names = database.object_store_names();
            let params = web_sys::IdbObjectStoreParameters::new();
            params.set_auto_increment(true);
            if !names.contains(RUNS) {
                let _ = database.create_object_store_with_optional_parameters(RUNS, &params);
            }
            if !names.contains(SWEEPS) {
                let _ = database.create_object_store(SWEEPS);
            }
            if !names.contains(CHECKPOINT) {
                let _ = database.create_object_store(CHECKPOINT);
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    // Settles with "open", "blocked", or the request's error; a success that comes after the wait
    // was given up on (the older tab closed at last) still keeps the connection.
    let settled = Promise::new(&mut |resolve, reject| {
        let answered = request.clone();
        let resolve_open = resolve.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            if let Some(database) = answered.result().ok().and_then(|r| r.dyn_into().ok()) {
                keep(database);
            }
            let _ = resolve_open.call1(&JsValue::NULL, &JsValue::from_str("open"));
        });
        let failed = request.clone();
        let on_error = Closure::once_into_js(move |_: web_sys::Event| {
            let error = failed.error().ok().flatten().map(JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error.unwrap_or(JsValue::NULL));
        });
        let on_blocked = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::from_str("blocked"));
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
        request.set_onblocked(Some(on_blocked.unchecked_ref()));
    });
    match within(settled, OPEN_BOUND_MS).await {
        // Another tab holds an older version open and ignores the request to close it.
        Some(Ok(how)) if how.as_string().as_deref() == Some("blocked") => {
            Err(unavailable(StorageProblem::Blocked))
        }
        Some(Ok(_)) => match CONNECTION.with(|c| c.borrow().clone()) {
            Connection::Open(database) => Ok(database),
            _ => Err((String::new(), "the database did not open".to_string())),
        },
        // A newer version of the page upgraded the database since this one loaded.
        // Any other refusal is said as such (a third-party frame where the browser denies storage:
        // `UnknownError`, "The user denied permission to access the database").
        Some(Err(e)) => match failure(e) {
            (name, _) if name == "VersionError" => Err(unavailable(StorageProblem::Newer)),
            other => Err(refused(other)),
        },
        None => Err(unavailable(StorageProblem::NotAnswering {
            seconds: seconds(OPEN_BOUND_MS),
        })),
    }
}

fn store(
    database: &IdbDatabase,
    name: &str,
    mode: IdbTransactionMode,
) -> Result<IdbObjectStore, Failure> {
    database
        .transaction_with_str_and_mode(name, mode)
        .and_then(|t| t.object_store(name))
        .map_err(failure)
}

/// A store of the page's database in a transaction of `mode`. A connection the browser closed (the
/// reader cleared the site's data) is opened anew, once.
async fn open_store(name: &str, mode: IdbTransactionMode) -> Result<IdbObjectStore, Failure> {
    let database = open().await?;
    match store(&database, name, mode) {
        Err((error, _)) if error == "InvalidStateError" => {
            set_connection(Connection::Closed);
            store(&open().await?, name, mode)
        }
        other => other,
    }
}

/// Every entry of a store, as text (entries that are not text are skipped).
pub async fn read_all(name: &str) -> Result<Vec<String>, Failure> {
    let request = open_store(name, IdbTransactionMode::Readonly)
        .await?
        .get_all()
        .map_err(failure)?;
    let values: Array = finish(&request).await?.unchecked_into();
    Ok(values.iter().filter_map(|v| v.as_string()).collect())
}

/// Adds (or, with a key, replaces) one entry. The write is one transaction: when it fails (a full
/// quota), nothing else changes.
pub async fn put(name: &str, key: Option<&str>, text: &str) -> Result<(), Failure> {
    let store = open_store(name, IdbTransactionMode::Readwrite).await?;
    let value = JsValue::from_str(text);
    let request = match key {
        Some(key) => store.put_with_key(&value, &JsValue::from_str(key)),
        None => store.add(&value),
    }
    .map_err(failure)?;
    finish(&request).await.map(|_| ())
}

/// The text entry of `store` under `key`, if any.
pub async fn get(name: &str, key: &str) -> Result<Option<String>, Failure> {
    let request = open_store(name, IdbTransactionMode::Readonly)
        .await?
        .get(&JsValue::from_str(key))
        .map_err(failure)?;
    Ok(finish(&request).await?.as_string())
}

/// Removes the entry of `store` under `key` (nothing happens when there is none).
pub async fn delete(name: &str, key: &str) -> Result<(), Failure> {
    let request = open_store(name, IdbTransactionMode::Readwrite)
        .await?
        .delete(&JsValue::from_str(key))
        .map_err(failure)?;
    finish(&request).await.map(|_| ())
}

/// Empties every store (the saved runs, sweeps and any checkpoint).
pub async fn clear() -> Result<(), Failure> {
    for name in [RUNS, SWEEPS, CHECKPOINT] {
        let request = open_store(name, IdbTransactionMode::Readwrite)
            .await?
            .clear()
            .map_err(failure)?;
        finish(&request).await?;
    }
    Ok(())
}

/// Every tab with entries in [`CHECKPOINT`]: its run in progress or its sweep's progress.
pub async fn checkpoint_owners() -> Result<Vec<String>, Failure> {
    let request = open_store(CHECKPOINT, IdbTransactionMode::Readonly)
        .await?
        .get_all_keys()
        .map_err(failure)?;
    let keys: Array = finish(&request).await?.unchecked_into();
    let mut owners: Vec<String> = keys
        .iter()
        .filter_map(|k| k.as_string())
        .filter_map(|k| match k.as_str() {
            "current" | "sweep" => Some(LEGACY_OWNER.to_string()),
            // A helper's run (`<tab>~<slot>`) is its tab's.
            k => k
                .strip_prefix("run:")
                .or_else(|| k.strip_prefix("sweep:"))
                .map(|owner| tab_of(owner).0.to_string()),
        })
        .collect();
    owners.sort();
    owners.dedup();
    Ok(owners)
}

/// Moves a gone tab's entries (its run, its sweep's progress and its helpers' runs) to `to`, in one
/// transaction: the tab that resumes them owns them from now on.
pub async fn adopt(from: &str, to: &str) -> Result<(), Failure> {
    let store = open_store(CHECKPOINT, IdbTransactionMode::Readwrite).await?;
    let helpers = (0..MAX_WORKERS - 1).map(|slot| {
        (
            run_key(&helper_owner(from, slot)),
            run_key(&helper_owner(to, slot)),
        )
    });
    let moves = [
        (run_key(from), run_key(to)),
        (sweep_key(from), sweep_key(to)),
    ];
    for (old, new) in moves.into_iter().chain(helpers) {
        let value = finish(&store.get(&JsValue::from_str(&old)).map_err(failure)?).await?;
        if !value.is_undefined() && !value.is_null() {
            finish(
                &store
                    .put_with_key(&value, &JsValue::from_str(&new))
                    .map_err(failure)?,
            )
            .await?;
            finish(&store.delete(&JsValue::from_str(&old)).map_err(failure)?).await?;
        }
    }
    Ok(())
}

/// Saves a tab's run in progress, replacing its previous checkpoint in one transaction.
pub async fn put_checkpoint(
    owner: &str,
    meta: &str,
    model: &[u8],
    optimizer: &[u8],
) -> Result<(), Failure> {
    let value = js_sys::Object::new();
    let set = |key: &str, v: &JsValue| Reflect::set(&value, &JsValue::from_str(key), v);
    set("meta", &JsValue::from_str(meta)).map_err(failure)?;
    set("model", &js_sys::Uint8Array::from(model)).map_err(failure)?;
    set("optimizer", &js_sys::Uint8Array::from(optimizer)).map_err(failure)?;
    let request = open_store(CHECKPOINT, IdbTransactionMode::Readwrite)
        .await?
        .put_with_key(&value, &JsValue::from_str(&run_key(owner)))
        .map_err(failure)?;
    finish(&request).await.map(|_| ())
}

/// A tab's stored checkpoint object (`meta`, `model`, `optimizer`), if any.
async fn checkpoint_value(owner: &str) -> Result<Option<JsValue>, Failure> {
    let request = open_store(CHECKPOINT, IdbTransactionMode::Readonly)
        .await?
        .get(&JsValue::from_str(&run_key(owner)))
        .map_err(failure)?;
    let value = finish(&request).await?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// The meta text of a tab's checkpoint, if any: what the page shows before the worker resumes. The
/// weights stay in JavaScript; only the worker copies them.
pub async fn read_checkpoint_meta(owner: &str) -> Result<Option<String>, Failure> {
    Ok(checkpoint_value(owner)
        .await?
        .and_then(|value| field(&value, "meta").as_string()))
}

/// A tab's checkpoint of its run in progress, if any: its meta text, the model's and optimizer's
/// bytes.
pub async fn read_checkpoint(owner: &str) -> Result<Option<(String, Vec<u8>, Vec<u8>)>, Failure> {
    let Some(value) = checkpoint_value(owner).await? else {
        return Ok(None);
    };
    let bytes = |key: &str| {
        field(&value, key)
            .dyn_into::<js_sys::Uint8Array>()
            .map(|a| a.to_vec())
            .unwrap_or_default()
    };
    Ok(field(&value, "meta")
        .as_string()
        .map(|meta| (meta, bytes("model"), bytes("optimizer"))))
}

/// Forgets a tab's checkpoint (its run finished, stopped or was replaced).
pub async fn delete_checkpoint(owner: &str) -> Result<(), Failure> {
    delete(CHECKPOINT, &run_key(owner)).await
}
