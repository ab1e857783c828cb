//! The browser's IndexedDB, as the page and the worker use it: two object stores of JSON text (`runs`,
//! keyed by an increasing number; `sweeps`, keyed by the sweep's key) and `checkpoint`, what a reload
//! needs to go on. Every tab of the page owns its entries there (see `tab.rs`): its run in progress
//! (`run:<owner>`: the meta as JSON text and the model's and optimizer's bytes, written by the
//! worker) and its running sweep's progress (`sweep:<owner>`, JSON text, written by the page), so two
//! tabs train two runs and keep both. Each request is wrapped in a promise, and every failure comes
//! back as `(error name, message)` so the page can say what happened in plain words (see
//! `storage::describe_failure`).

use instruction_diversity::page::state::sweep::MAX_WORKERS;
use instruction_diversity::page::storage::{helper_owner, tab_of};
use js_sys::{Array, Promise, Reflect};
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

/// Resolves with the request's result, or rejects with its error.
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
    JsFuture::from(promise).await.map_err(failure)
}

/// Opens (creating on first use) the page's database.
async fn open() -> Result<IdbDatabase, Failure> {
    // `indexedDB` of the page or of the worker, whichever runs this.
    let factory: web_sys::IdbFactory =
        Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| {
                (
                    String::new(),
                    "this browser offers no IndexedDB (private mode?)".to_string(),
                )
            })?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, VERSION).map_err(failure)?;
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
    let database = finish(&request).await?;
    database
        .dyn_into()
        .map_err(|_| (String::new(), "the database did not open".to_string()))
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

/// Every entry of a store, as text (entries that are not text are skipped).
pub async fn read_all(name: &str) -> Result<Vec<String>, Failure> {
    let database = open().await?;
    let request = store(&database, name, IdbTransactionMode::Readonly)?
        .get_all()
        .map_err(failure)?;
    let values: Array = finish(&request).await?.unchecked_into();
    Ok(values.iter().filter_map(|v| v.as_string()).collect())
}

/// Adds (or, with a key, replaces) one entry. The write is one transaction: when it fails (a full
/// quota), nothing else changes.
pub async fn put(name: &str, key: Option<&str>, text: &str) -> Result<(), Failure> {
    let database = open().await?;
    let store = store(&database, name, IdbTransactionMode::Readwrite)?;
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
    let database = open().await?;
    let request = store(&database, name, IdbTransactionMode::Readonly)?
        .get(&JsValue::from_str(key))
        .map_err(failure)?;
    Ok(finish(&request).await?.as_string())
}

/// Removes the entry of `store` under `key` (nothing happens when there is none).
pub async fn delete(name: &str, key: &str) -> Result<(), Failure> {
    let database = open().await?;
    let request = store(&database, name, IdbTransactionMode::Readwrite)?
        .delete(&JsValue::from_str(key))
        .map_err(failure)?;
    finish(&request).await.map(|_| ())
}

/// Empties every store (the saved runs, sweeps and any checkpoint).
pub async fn clear() -> Result<(), Failure> {
    let database = open().await?;
    for name in [RUNS, SWEEPS, CHECKPOINT] {
        let request = store(&database, name, IdbTransactionMode::Readwrite)?
            .clear()
            .map_err(failure)?;
        finish(&request).await?;
    }
    Ok(())
}

/// Every tab with entries in [`CHECKPOINT`]: its run in progress or its sweep's progress.
pub async fn checkpoint_owners() -> Result<Vec<String>, Failure> {
    let database = open().await?;
    let request = store(&database, CHECKPOINT, IdbTransactionMode::Readonly)?
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
    let database = open().await?;
    let store = store(&database, CHECKPOINT, IdbTransactionMode::Readwrite)?;
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
    let database = open().await?;
    let value = js_sys::Object::new();
    let set = |key: &str, v: &JsValue| Reflect::set(&value, &JsValue::from_str(key), v);
    set("meta", &JsValue::from_str(meta)).map_err(failure)?;
    set("model", &js_sys::Uint8Array::from(model)).map_err(failure)?;
    set("optimizer", &js_sys::Uint8Array::from(optimizer)).map_err(failure)?;
    let request = store(&database, CHECKPOINT, IdbTransactionMode::Readwrite)?
        .put_with_key(&value, &JsValue::from_str(&run_key(owner)))
        .map_err(failure)?;
    finish(&request).await.map(|_| ())
}

/// A tab's stored checkpoint object (`meta`, `model`, `optimizer`), if any.
async fn checkpoint_value(owner: &str) -> Result<Option<JsValue>, Failure> {
    let database = open().await?;
    let request = store(&database, CHECKPOINT, IdbTransactionMode::Readonly)?
        .get(&JsValue::from_str(&run_key(owner)))
        .map_err(failure)?;
    let value = finish(&request).await?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

fn field(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
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
