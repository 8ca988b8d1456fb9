//! Async clean-up from a `Drop`.

use std::future::Future;

/// Runs `f` to its end on a thread of its own with its own runtime, and waits for it: a
/// `Drop` may run inside a test's runtime, which must not be blocked (nor nested).
pub fn block_on_own_thread<F>(f: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f);
    })
    .join();
}
