//! The page: settings, controls, live curves and predictions. All compute runs in the worker.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod lab;
// Shared with the worker, which uses its checkpoint part.
#[cfg(target_arch = "wasm32")]
#[allow(dead_code)]
mod store;

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
