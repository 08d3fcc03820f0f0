//! Progress bars and spinners (indicatif) on standard error for long operations, shown
//! only to a person watching: never when standard error is not a terminal, nor when
//! standard output is not one (piped into a script or a log) — except for commands whose
//! standard output *is* their data (`datastore migrate export > file`), where standard
//! error alone decides.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use calico_datastore::migrate::{Progress, Stage};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a bar looks: what it is doing, the bar, counts, rate and time left.
const BAR_TEMPLATE: &str = "{msg:>20} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)";
/// How a spinner looks.
const SPINNER_TEMPLATE: &str = "{spinner} {msg} ({elapsed})";
/// How often a spinner turns while the work gives no news.
const SPINNER_TICK: Duration = Duration::from_millis(120);

/// What standard output carries, for [`should_show`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdout {
    /// Messages and tables for a person (most commands).
    Messages,
    /// The command's data, usually redirected to a file (`migrate export`).
    Data,
}

/// Whether to draw progress, given whether standard error and standard output are
/// terminals.
pub fn should_show(stderr_tty: bool, stdout_tty: bool, stdout: Stdout) -> bool {
    stderr_tty && (stdout_tty || stdout == Stdout::Data)
}

/// [`should_show`] for this process.
pub fn enabled(stdout: Stdout) -> bool {
    should_show(
        std::io::stderr().is_terminal(),
        std::io::stdout().is_terminal(),
        stdout,
    )
}

/// A [`Progress`] that draws one bar per stage on standard error (or nothing when
/// disabled).
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars if [`enabled`] says so for `stdout`.
    pub fn new(stdout: Stdout) -> Self {
        Bars {
            enabled: enabled(stdout),
            bar: Mutex::new(None),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A panic while drawing cannot leave the slot inconsistent.
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for Bars {
    fn start(&self, stage: Stage, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(stage.to_string());
        if let Some(old) = self.slot().replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, _stage: Stage, done: u64) {
        if let Some(bar) = self.slot().as_ref() {
            bar.inc(done);
        }
    }

    fn finish(&self, _stage: Stage) {
        if let Some(bar) = self.slot().take() {
            bar.finish_and_clear();
        }
    }
}

/// A spinner with a message on standard error while something without a known size runs;
/// cleared when dropped. Does nothing when progress is not [`enabled`].
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Starts a spinner saying `message` (for a command printing messages on stdout).
    pub fn start(message: &str) -> Self {
        if !enabled(Stdout::Messages) {
            return Spinner(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(SPINNER_TEMPLATE) {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(SPINNER_TICK);
        Spinner(Some(bar))
    }

    /// Changes the message.
    pub fn say(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_owned());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_only_to_a_terminal() {
        assert!(should_show(true, true, Stdout::Messages));
        assert!(!should_show(true, false, Stdout::Messages));
        assert!(!should_show(false, true, Stdout::Messages));
        assert!(should_show(true, false, Stdout::Data));
        assert!(!should_show(false, false, Stdout::Data));
    }

    #[test]
    fn disabled_bars_and_spinners_do_nothing() {
        let bars = Bars {
            enabled: false,
            bar: Mutex::new(None),
        };
        bars.start(Stage::Write, 10);
        bars.advance(Stage::Write, 3);
        assert!(bars.slot().is_none());
        bars.finish(Stage::Write);
        let s = Spinner(None);
        s.say("x");
    }
}
