//! The async runtime of a command. A warm proxy connection builds it too, but registers nothing on it: it connects
//! and relays with blocking calls (see `transport::relay`), which is cheaper than a reactor for one socket.

use std::future::Future;

/// Runs `future` on a single-threaded runtime — plenty for a handful of HTTP requests — and does not wait for
/// stray blocking tasks (a hung `az` after a timeout) once the answer is in.
pub(crate) fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let output = runtime.block_on(future);
    runtime.shutdown_background();
    Ok(output)
}
