//! Apply's progress display.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::output::print_now;
use crate::apply::Event;

/// The pipelines in flight: each one's step and when it began, and how many lines the
/// last drawing took.
#[derive(Default)]
struct Live {
    rows: Vec<(String, String, Instant)>,
    drawn: usize,
}

impl Live {
    /// Pipelines shown at once on a terminal.
    const ROWS: usize = 12;

    /// Moves up over the last drawing, prints `done` (lines that stay), then the rows
    /// in flight with the time each step has taken so far.
    fn redraw(&mut self, done: &str) {
        let mut out = "\x1b[1A\x1b[2K".repeat(self.drawn);
        out.push_str(done);
        let shown = &self.rows[self.rows.len().saturating_sub(Self::ROWS)..];
        for (n, m, since) in shown {
            let secs = since.elapsed().as_secs();
            let elapsed = if secs > 0 { format!(" ({secs}s)") } else { String::new() };
            out.push_str(&format!("  {n}: {m}{elapsed}\n"));
        }
        self.drawn = shown.len();
        print_now(&out);
    }
}

/// Apply's progress: one line per step when the output is a log, a live board of the
/// pipelines in flight on a terminal, redrawn in place, each step with the seconds it has
/// taken (ticking once a second, as cargo and uv show theirs).
pub(super) struct Board {
    tty: bool,
    live: Arc<Mutex<Live>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Board {
    pub(super) fn new(tty: bool) -> Board {
        let live = Arc::new(Mutex::new(Live::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = tty.then(|| {
            let (live, stop) = (live.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    let mut l = live.lock().unwrap_or_else(|e| e.into_inner());
                    if l.rows.iter().any(|(_, _, since)| since.elapsed() >= Duration::from_secs(1)) {
                        l.redraw("");
                    }
                }
            })
        });
        Board { tty, live, stop, ticker }
    }

    pub(super) fn event(&self, name: &str, event: Event<'_>) {
        if !self.tty {
            return print_now(&format!("{name}: {event}\n"));
        }
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.rows.retain(|(n, _, _)| n != name);
        let done = match event {
            Event::Done(_) => format!("{name}: {event}\n"), // final lines stay
            Event::Step(what) => {
                live.rows.push((name.to_string(), what.to_string(), Instant::now()));
                String::new()
            }
        };
        live.redraw(&done);
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
