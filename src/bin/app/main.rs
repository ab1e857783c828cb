//! The page: settings, controls, live curves and predictions. All compute runs in the worker.
//!
//! `app` holds the root component, the reducer and its effects (storage, the address bar, the
//! worker); the other modules are components, each given the part of the page state it shows and
//! a dispatcher.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod chart_view;
#[cfg(target_arch = "wasm32")]
mod class_panel;
#[cfg(target_arch = "wasm32")]
mod compare_panel;
#[cfg(target_arch = "wasm32")]
mod field;
#[cfg(target_arch = "wasm32")]
mod files;
#[cfg(target_arch = "wasm32")]
mod hero;
#[cfg(target_arch = "wasm32")]
mod inside_panel;
#[cfg(target_arch = "wasm32")]
mod inspector_panel;
#[cfg(target_arch = "wasm32")]
mod lessons_panel;
#[cfg(target_arch = "wasm32")]
mod run_panel;
#[cfg(target_arch = "wasm32")]
mod settings_form;
#[cfg(target_arch = "wasm32")]
mod sweep_panel;
// Shared with the worker, which uses its checkpoint part.
#[cfg(target_arch = "wasm32")]
#[allow(dead_code)]
mod store;
#[cfg(target_arch = "wasm32")]
mod tab;
#[cfg(target_arch = "wasm32")]
mod try_panel;
#[cfg(target_arch = "wasm32")]
mod widgets;
#[cfg(target_arch = "wasm32")]
mod worker_link;

/// This build's name (`protocol::BUILD`), for `www/boot.js`: it registers the service worker of
/// this build, so a deploy installs a new one that caches the new files.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn build() -> String {
    instruction_diversity::protocol::BUILD.into()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "the page runs in a browser: build it with `trunk build`; natively, use the `idp` command"
    );
}
