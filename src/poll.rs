//! Waiting on the platform: one polling loop with a deadline and a growing pause.

use std::ops::ControlFlow;
use std::time::Duration;

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

/// Runs `probe` until it breaks with a value, pausing per `backoff` in between. The
/// probe runs at least once and once more at the deadline; `Ok(None)` when it still
/// continues then. An error of the probe ends the wait.
pub async fn poll_until<T, E>(
    deadline: Instant,
    backoff: Backoff,
    mut probe: impl AsyncFnMut() -> Result<ControlFlow<T>, E>,
) -> Result<Option<T>, E> {
    let mut wait = backoff.first;
    if backoff.wait_first {
        tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
        wait = grown(wait, backoff);
    }
    loop {
        if let ControlFlow::Break(v) = probe().await? {
            return Ok(Some(v));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
        wait = grown(wait, backoff);
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
