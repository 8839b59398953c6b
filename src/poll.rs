//! Waiting on the platform: one polling loop with a deadline and a growing pause, and
//! waits of one kind that learn from each other ([`Pace`]).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// When to probe: at once or after the first pause, then after pauses that grow by
/// `growth` percent each time, up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
    /// Each pause is this percentage of the one before (100: steady).
    pub growth: u32,
    /// The first probe waits for the first pause: for what never finishes at once.
    pub wait_first: bool,
}

impl Backoff {
    /// Deploy tickets and starting jobs, which take a second at least and may take
    /// minutes: probes at 0.25, 0.63, 1.2, 2, 3.3, 5.2, 8 s and on, pauses up to 5 s. Each
    /// probe is at most half again the time already waited (so the wait overshoots by
    /// under 20% for a one-second step), and a one-second step costs three probes.
    pub const GROWING: Backoff =
        Backoff { first: Duration::from_millis(250), max: Duration::from_secs(5), growth: 150, wait_first: true };
    /// Every 200 ms, from at once: stopping jobs and validations.
    pub const STEADY: Backoff =
        Backoff { first: Duration::from_millis(200), max: Duration::from_millis(200), growth: 100, wait_first: false };
}

/// The times a wait probes at, from its start: the backoff's schedule, each probe moved
/// later by the wait's phase `u` (0 to 1) within the span to the next one, as a share of
/// that span's ratio (so phases spread evenly over time's logarithm).
struct Schedule {
    backoff: Backoff,
    phase: f64,
    /// The unphased time of the next probe, and the pause after it.
    at: Duration,
    pause: Duration,
}

impl Schedule {
    fn new(backoff: Backoff, phase: f64) -> Schedule {
        let (at, pause) = if backoff.wait_first {
            (backoff.first, grown(backoff.first, backoff))
        } else {
            (Duration::ZERO, backoff.first)
        };
        Schedule { backoff, phase, at, pause }
    }

    /// The next probe's time, phased.
    fn next(&mut self) -> Duration {
        let (at, then) = (self.at, self.at + self.pause);
        self.at = then;
        self.pause = grown(self.pause, self.backoff);
        if at.is_zero() || self.phase == 0.0 {
            return at;
        }
        at.mul_f64((then.as_secs_f64() / at.as_secs_f64()).powf(self.phase))
    }

    /// The first probe's time after `waited`: those already past are skipped (a step
    /// whose wait began late, after a slow journal write, is not probed in a burst).
    fn next_after(&mut self, waited: Duration) -> Duration {
        loop {
            let at = self.next();
            if at > waited || self.pause.is_zero() {
                return at;
            }
        }
    }
}

/// Runs `probe` until it breaks with a value, pausing per `backoff` in between. The
/// probe runs at least once and once more at the deadline; `Ok(None)` when it still
/// continues then. An error of the probe ends the wait.
pub async fn poll_until<T, E>(
    deadline: Instant,
    backoff: Backoff,
    probe: impl AsyncFnMut() -> Result<ControlFlow<T>, E>,
) -> Result<Option<T>, E> {
    run(Instant::now(), deadline, Schedule::new(backoff, 0.0), None, probe).await
}

/// What the waits for one kind of step (deploy tickets, starting jobs) learn from each
/// other in one run. Each wait probes on the backoff's schedule at its own phase (the
/// n-th wait's is n times the golden ratio, modulo 1; the first's is 0), so that many
/// waits together probe all along a step's span; and once one sees its step finished, each
/// other probes as soon as it has waited that long, once. A step the platform takes
/// about as long for every pipeline is then seen finished moments after it is, at no
/// more probes than the schedule alone.
pub struct Pace {
    backoff: Backoff,
    waits: AtomicU32,
    /// The shortest wait that saw its step finished.
    fastest: watch::Sender<Option<Duration>>,
}

impl Pace {
    /// Waits on `backoff`'s schedule, sharing what they learn.
    pub fn new(backoff: Backoff) -> Pace {
        Pace { backoff, waits: AtomicU32::new(0), fastest: watch::Sender::new(None) }
    }

    /// [`poll_until`], as one of these waits, for a step asked for at `since`: its
    /// schedule and what it learns are counted from then, the platform's own start of
    /// the step (not from when the wait began, after the step was journaled).
    pub async fn poll<T, E>(
        &self,
        since: Instant,
        deadline: Instant,
        probe: impl AsyncFnMut() -> Result<ControlFlow<T>, E>,
    ) -> Result<Option<T>, E> {
        const GOLDEN: f64 = 0.618_033_988_749_894_9;
        let n = self.waits.fetch_add(1, Ordering::Relaxed);
        run(since, deadline, Schedule::new(self.backoff, (f64::from(n) * GOLDEN).fract()), Some(self), probe).await
    }

    fn finished_after(&self, waited: Duration) {
        self.fastest.send_if_modified(|f| {
            let shorter = f.is_none_or(|f| waited < f);
            if shorter {
                *f = Some(waited);
            }
            shorter
        });
    }
}

async fn run<T, E>(
    start: Instant,
    deadline: Instant,
    mut schedule: Schedule,
    pace: Option<&Pace>,
    mut probe: impl AsyncFnMut() -> Result<ControlFlow<T>, E>,
) -> Result<Option<T>, E> {
    let mut learned = pace.map(|p| p.fastest.subscribe());
    let mut planned = start + schedule.next();
    // When the last probe was sent, as time waited.
    let mut probed: Option<Duration> = None;
    loop {
        // The planned probe, or sooner the time another wait took, when this one has
        // not probed since that long.
        let at = loop {
            let hint = learned.as_mut().and_then(|rx| *rx.borrow_and_update());
            let at = hint
                .filter(|h| probed.is_none_or(|p| *h > p))
                .map_or(planned, |h| planned.min(start + h))
                .min(deadline);
            match learned.as_mut() {
                Some(rx) => tokio::select! {
                    () = tokio::time::sleep_until(at) => break at,
                    changed = rx.changed() => if changed.is_err() { learned = None },
                },
                None => {
                    tokio::time::sleep_until(at).await;
                    break at;
                }
            }
        };
        let sent = Instant::now();
        if let ControlFlow::Break(v) = probe().await? {
            // Finished by the time the answer came: the time to tell the others.
            if let Some(p) = pace {
                p.finished_after(start.elapsed());
            }
            return Ok(Some(v));
        }
        probed = Some(sent - start);
        if Instant::now() >= deadline {
            return Ok(None);
        }
        if at >= planned {
            planned = start + schedule.next_after(start.elapsed());
        }
    }
}

fn grown(wait: Duration, backoff: Backoff) -> Duration {
    (wait * backoff.growth / 100).min(backoff.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn probes_with_growing_pauses_until_a_value() {
        let start = Instant::now();
        let mut at = Vec::new();
        let backoff = Backoff {
            first: Duration::from_millis(64),
            max: Duration::from_millis(100),
            growth: 125,
            wait_first: false,
        };
        let got = poll_until(start + Duration::from_secs(60), backoff, async || {
            at.push(start.elapsed().as_millis());
            Ok::<_, ()>(if at.len() == 5 { ControlFlow::Break(at.len()) } else { ControlFlow::Continue(()) })
        })
        .await;
        assert_eq!(got, Ok(Some(5)));
        // Pauses of 64, 80 and 100 ms, then 100 ms again: the longest.
        assert_eq!(at, [0, 64, 144, 244, 344]);
    }

    #[tokio::test(start_paused = true)]
    async fn growing_waits_first_and_probes_a_one_second_step_three_times() {
        let start = Instant::now();
        let mut at = Vec::new();
        let got = poll_until(start + Duration::from_secs(60), Backoff::GROWING, async || {
            at.push(start.elapsed().as_millis());
            let done = start.elapsed() >= Duration::from_secs(1);
            Ok::<_, ()>(if done { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })
        .await;
        assert_eq!(got, Ok(Some(())));
        assert_eq!(at, [250, 625, 1188]);
    }

    #[test]
    fn a_phase_moves_each_probe_within_the_span_to_the_next() {
        let times = |phase: f64| {
            let mut s = Schedule::new(Backoff::GROWING, phase);
            (0..8).map(|_| s.next()).collect::<Vec<_>>()
        };
        let base = times(0.0);
        let ms: Vec<u128> = base.iter().map(Duration::as_millis).collect();
        assert_eq!(ms[..4], [250, 625, 1187, 2031]);
        let mut earlier = base.clone();
        for phase in [0.1, 0.4, 0.618, 0.9, 0.999] {
            let t = times(phase);
            for k in 0..t.len() - 1 {
                assert!(base[k] < t[k] && t[k] < base[k + 1], "phase {phase}, probe {k}: {t:?} against {base:?}");
                assert!(earlier[k] < t[k], "a later phase probes later: {phase}, probe {k}");
            }
            earlier = t;
        }
    }

    /// Probes a step that finishes `done` after the wait starts, noting each probe's time.
    async fn step(pace: &Pace, done: Duration, at: &mut Vec<u128>) -> Option<()> {
        let start = Instant::now();
        pace.poll(start, start + Duration::from_secs(60), async || {
            at.push(start.elapsed().as_millis());
            Ok::<_, ()>(if start.elapsed() >= done { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })
        .await
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_probes_when_another_of_its_kind_saw_its_step_finished() {
        let pace = Pace::new(Backoff::GROWING);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ms = Duration::from_millis;
        // The first wait is at phase 0, the second at 0.618: it probes between the first's.
        let (x, y) = tokio::join!(step(&pace, ms(900), &mut a), step(&pace, ms(900), &mut b));
        assert_eq!((x, y), (Some(()), Some(())));
        assert!(b[0] > 250 && b[1] >= 900 && b[1] < 1187, "{b:?}");
        // Without the second, the first would probe at 1187 ms: it probes when the second saw
        // its step finished.
        assert_eq!(a, [250, 625, b[1]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_longer_step_costs_one_probe_more_at_most() {
        let pace = Pace::new(Backoff::GROWING);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ms = Duration::from_millis;
        tokio::join!(step(&pace, ms(1500), &mut a), step(&pace, ms(900), &mut b));
        let alone = {
            let mut alone = Vec::new();
            step(&Pace::new(Backoff::GROWING), ms(1500), &mut alone).await;
            alone
        };
        assert_eq!(alone, [250, 625, 1188, 2032]);
        assert_eq!(a, [250, 625, b[1], 1188, 2032], "the first probes once when the second's step finished");
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_asked_for_long_before_its_wait_is_probed_once_then_on_schedule() {
        let pace = Pace::new(Backoff::GROWING);
        let since = Instant::now();
        // The step was asked for 2 s ago (a slow journal write in between): its wait
        // probes at once, then at the schedule's next time after 2 s, not at every one
        // already past.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut at = Vec::new();
        let done = Duration::from_millis(3000);
        pace.poll(since, since + Duration::from_secs(60), async || {
            at.push(since.elapsed().as_millis());
            Ok::<_, ()>(if since.elapsed() >= done { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })
        .await
        .unwrap();
        assert_eq!(at, [2000, 2032, 3297]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_probing_at_the_deadline() {
        let start = Instant::now();
        let mut at = Vec::new();
        let got = poll_until(start + Duration::from_millis(500), Backoff::STEADY, async || {
            at.push(start.elapsed().as_millis());
            Ok::<ControlFlow<()>, ()>(ControlFlow::Continue(()))
        })
        .await;
        assert_eq!(got, Ok(None));
        assert_eq!(at, [0, 200, 400, 500]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_ends_the_wait() {
        let mut probes = 0;
        let got: Result<Option<()>, &str> =
            poll_until(Instant::now() + Duration::from_secs(60), Backoff::STEADY, async || {
                probes += 1;
                if probes == 2 { Err("gone") } else { Ok(ControlFlow::Continue(())) }
            })
            .await;
        assert_eq!((got, probes), (Err("gone"), 2));
    }
}
