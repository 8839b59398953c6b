//! Where an interrupted action picks up: the one table of what a restart does next,
//! from the step its journal reached and what VVP shows now. Forward only: a stop is
//! never redone once a later job may have run, and a start restores the savepoint of
//! the restart's own stop only while no job was started since; after that, the newest
//! state of the newest job.

use super::{Operation, Pending, Restore, Step};
use crate::spec::Upgrade;

/// What VVP shows of the deployment when a restart (stop → deploy → start) begins or
/// resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// No job that is not stopped.
    NoJob,
    /// A live job, and the deployment runs the SQL the restart deploys.
    PlannedJob,
    /// A live job, and the deployment runs other SQL.
    OtherJob,
}

/// What a restart does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Stop the live job (`savepoint`: with one, when stateful), then deploy and start
    /// from what that stop kept.
    Stop {
        /// Stop with a savepoint.
        savepoint: bool,
    },
    /// The live job is the restart's own, started before the interruption: keep it
    /// (the start step finds it and waits for RUNNING, then verifies).
    Keep,
    /// Deploy, then start from this.
    Start(Restore),
}

/// The table: the step the journal reached (`None`: a restart that begins now), the
/// savepoint its stop took, and what is seen → what the restart does.
///
/// | reached          | seen                 | next                                          |
/// |------------------|----------------------|-----------------------------------------------|
/// | `start`          | the planned job      | keep it                                       |
/// | any              | a job (else)         | stop it; start from what that stop kept       |
/// | before `start`   | no job               | start from the stop's savepoint (else latest) |
/// | `start`          | no job               | start from the latest state (a job ran since) |
///
/// Stateless restarts stop without a savepoint and start without state.
pub fn restart(reached: Option<Step>, savepoint: Option<&str>, seen: Seen, upgrade: Upgrade) -> Next {
    let stateful = upgrade == Upgrade::Stateful;
    match (reached, seen) {
        (Some(Step::Start), Seen::PlannedJob) => Next::Keep,
        (_, Seen::PlannedJob | Seen::OtherJob) => Next::Stop { savepoint: stateful },
        _ if !stateful => Next::Start(Restore::None),
        (Some(Step::Start), Seen::NoJob) => Next::Start(Restore::LatestState),
        (_, Seen::NoJob) => Next::Start(savepoint.map_or(Restore::LatestState, |sp| Restore::FromSavepoint(sp.into()))),
    }
}

/// The step a journal reached in `action`, if it is one of `action`'s (an entry of
/// another action is not resumed by this one).
pub fn reached(pending: Option<&Pending>, action: Operation) -> Option<Step> {
    pending.filter(|p| p.action == action).map(|p| p.step)
}

/// Whether a replace's journal shows its old deployment destroyed: its create steps
/// began, so a resumed replace only creates (and adopts what it created).
pub fn replace_destroyed(pending: Option<&Pending>) -> bool {
    reached(pending, Operation::Replace).is_some_and(|s| !matches!(s, Step::SinkDdl | Step::Stop | Step::Delete))
}

#[cfg(test)]
mod tests {
    use super::{Next, Seen, restart};
    use crate::spec::Upgrade;
    use crate::state::{Restore, Step};

    /// Every journaled step a restart can reach, and a fresh one.
    const REACHED: [Option<Step>; 7] = [
        None,
        Some(Step::SinkDdl),
        Some(Step::Stop),
        Some(Step::CreateDraft),
        Some(Step::Deploy),
        Some(Step::Configure),
        Some(Step::Start),
    ];

    #[test]
    fn a_job_is_kept_only_when_the_restart_had_started_it() {
        for reached in REACHED {
            for upgrade in [Upgrade::Stateful, Upgrade::Stateless] {
                let next = restart(reached, Some("sp-1"), Seen::PlannedJob, upgrade);
                assert_eq!(next == Next::Keep, reached == Some(Step::Start), "{reached:?} {upgrade:?}: {next:?}");
                assert!(matches!(restart(reached, Some("sp-1"), Seen::OtherJob, upgrade), Next::Stop { .. }));
            }
        }
    }

    #[test]
    fn the_stop_s_savepoint_is_restored_only_while_no_job_was_started_since() {
        for reached in REACHED {
            let next = restart(reached, Some("sp-1"), Seen::NoJob, Upgrade::Stateful);
            let want = match reached {
                Some(Step::Start) => Restore::LatestState,
                _ => Restore::FromSavepoint("sp-1".into()),
            };
            assert_eq!(next, Next::Start(want), "{reached:?}");
            assert_eq!(restart(reached, None, Seen::NoJob, Upgrade::Stateful), Next::Start(Restore::LatestState));
            assert_eq!(restart(reached, Some("sp-1"), Seen::NoJob, Upgrade::Stateless), Next::Start(Restore::None));
        }
        assert_eq!(restart(None, None, Seen::OtherJob, Upgrade::Stateful), Next::Stop { savepoint: true });
        assert_eq!(restart(None, None, Seen::OtherJob, Upgrade::Stateless), Next::Stop { savepoint: false });
    }
}
