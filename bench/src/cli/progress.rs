//! Progress while scenarios run: a bar on a terminal, otherwise one plain line every few
//! seconds (CI logs see that the run is alive and where it is).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// How often the plain progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Where the run is: scenario runs done of all, and what runs now.
#[derive(Debug, Default)]
struct State {
    done: u64,
    message: String,
}

/// A progress display for `len` scenario runs.
pub struct Progress {
    bar: ProgressBar,
    plain: Option<(Arc<Mutex<State>>, CancellationToken)>,
}

impl Progress {
    /// A bar when stderr is a terminal, else plain lines every [`PLAIN_EVERY`] (needs a tokio
    /// runtime).
    pub fn new(len: u64) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(len);
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            return Self { bar, plain: None };
        }
        let state = Arc::new(Mutex::new(State::default()));
        let stop = CancellationToken::new();
        let (shared, stopped) = (Arc::clone(&state), stop.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    () = tokio::time::sleep(PLAIN_EVERY) => {}
                }
                let line = {
                    let s = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    format!(
                        "sse-load: {:>4}s {}/{len} runs done, running {}",
                        started.elapsed().as_secs(),
                        s.done,
                        s.message
                    )
                };
                eprintln!("{line}");
            }
        });
        Self {
            bar: ProgressBar::hidden(),
            plain: Some((state, stop)),
        }
    }

    fn state(&self, f: impl FnOnce(&mut State)) {
        if let Some((state, _)) = &self.plain {
            f(&mut state.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        }
    }

    /// What runs now.
    pub fn set_message(&self, message: String) {
        self.state(|s| s.message.clone_from(&message));
        self.bar.set_message(message);
    }

    /// `n` more runs done.
    pub fn inc(&self, n: u64) {
        self.state(|s| s.done += n);
        self.bar.inc(n);
    }

    /// Runs `f` (which prints) without the bar in the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar, stops the plain lines.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        if let Some((_, stop)) = &self.plain {
            stop.cancel();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
