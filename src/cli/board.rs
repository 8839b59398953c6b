//! Apply's progress display.

use super::apply::print_now;
use crate::apply::{EVENT_DESTROYED, EVENT_RECORDED, EVENT_ROLLED_BACK, EVENT_RUNNING, EVENT_STOPPED};

/// Apply's progress: one line per step when the output is a log, a live board of the
/// pipelines in flight (redrawn in place) on a terminal.
pub(super) struct Board {
    tty: bool,
    live: std::sync::Mutex<(Vec<(String, String)>, usize)>,
}

impl Board {
    /// Pipelines shown at once on a terminal.
    const ROWS: usize = 12;

    pub(super) fn new(tty: bool) -> Board {
        Board { tty, live: std::sync::Mutex::new((Vec::new(), 0)) }
    }

    pub(super) fn event(&self, name: &str, msg: &str) {
        if !self.tty {
            return print_now(&format!("{name}: {msg}\n"));
        }
        let mut guard = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let (rows, drawn) = &mut *guard;
        let mut out = String::new();
        for _ in 0..*drawn {
            out.push_str("\x1b[1A\x1b[2K");
        }
        rows.retain(|(n, _)| n != name);
        if [EVENT_RUNNING, EVENT_DESTROYED, EVENT_STOPPED, EVENT_RECORDED, EVENT_ROLLED_BACK].contains(&msg) {
            out.push_str(&format!("{name}: {msg}\n")); // final lines stay
        } else {
            rows.push((name.to_string(), msg.to_string()));
        }
        let shown = &rows[rows.len().saturating_sub(Self::ROWS)..];
        for (n, m) in shown {
            out.push_str(&format!("  {n}: {m}\n"));
        }
        *drawn = shown.len();
        print_now(&out);
    }
}
