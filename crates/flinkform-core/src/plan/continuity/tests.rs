use super::{DataEffect, PartitionOffsets, Start};
use crate::spec::Upgrade;

/// Two partitions: 0 retains offsets 10..110 and the group read up to 100 (the message
/// at 60 is the first at the startup timestamp); 1 retains 0..50 and the group read up
/// to 20 (no message at or after the timestamp).
fn committed() -> Vec<PartitionOffsets> {
    vec![
        PartitionOffsets { partition: 0, low: 10, high: 110, committed: Some(100), at_timestamp: Some(60) },
        PartitionOffsets { partition: 1, low: 0, high: 50, committed: Some(20), at_timestamp: Some(50) },
    ]
}

/// [`committed`] with partition 1 never committed.
fn half_committed() -> Vec<PartitionOffsets> {
    let mut parts = committed();
    parts[1].committed = None;
    parts
}

fn effect(upgrade: Upgrade, mode: &str, reset: &str, parts: &[PartitionOffsets]) -> DataEffect {
    let setting = |k: &str| match k {
        "source.startup_mode" => Some(format!("\"{mode}\"")),
        "source.offset_reset" => Some(format!("\"{reset}\"")),
        "source.group_id" => Some("\"flinkform_orders\"".to_string()),
        _ => None,
    };
    DataEffect::of(upgrade, setting, Ok(parts))
}

#[test]
fn a_restart_from_the_savepoint_rereads_and_skips_nothing_whatever_the_group_shows() {
    for parts in [committed(), half_committed()] {
        let e = effect(Upgrade::Stateful, "earliest-offset", "earliest", &parts);
        assert_eq!(e.start, Start::Savepoint);
        assert_eq!((e.reread, e.skipped), (Some(0), Some(0)));
        assert!(!e.skips());
    }
    let e = effect(Upgrade::Stateful, "earliest-offset", "earliest", &committed());
    assert_eq!(e.lag, Some(10 + 30), "110 - 100 and 50 - 20");
    assert!(e.line().ends_with("(the old job's group is 40 messages behind now)"), "{}", e.line());
}

#[test]
fn group_offsets_resume_and_a_partition_without_one_reads_from_offset_reset() {
    let e = effect(Upgrade::Stateless, "group-offsets", "earliest", &committed());
    assert_eq!(e.start, Start::GroupOffsets { group: "flinkform_orders".into(), offset_reset: "earliest".into() });
    assert_eq!(
        (e.reread, e.skipped, e.uncommitted),
        (None, Some(0), Some(0)),
        "re-read: what followed the last commit"
    );
    let e = effect(Upgrade::Stateless, "group-offsets", "earliest", &half_committed());
    assert_eq!((e.reread, e.skipped, e.lag), (None, None, None), "what partition 1 re-reads is unknown");
    assert!(
        e.line().contains("1 partition(s) have no committed offset now, and start from the earliest"),
        "{}",
        e.line()
    );
    assert!(!e.skips());
    assert!(e.line().contains("offsets: no message is skipped;"), "{}", e.line());
    let e = effect(Upgrade::Stateless, "group-offsets", "latest", &half_committed());
    assert!(e.skips(), "a partition without an offset starts at the end: what it had is skipped");
    assert!(!e.line().contains("no message is skipped"), "{}", e.line());
    let e = effect(Upgrade::Stateful, "group-offsets", "latest", &half_committed());
    assert!(!e.line().contains("partition(s)"), "the savepoint has every partition's offset: {}", e.line());
}

#[test]
fn earliest_rereads_what_the_group_read_and_latest_skips_what_it_did_not() {
    let e = effect(Upgrade::Stateless, "earliest-offset", "earliest", &committed());
    assert_eq!((e.reread, e.skipped), (Some(90 + 20), Some(0)), "10..100 and 0..20");
    assert!(!e.skips());
    let e = effect(Upgrade::Stateless, "latest-offset", "earliest", &committed());
    assert_eq!((e.reread, e.skipped), (Some(0), Some(10 + 30)), "100..110 and 20..50");
    assert!(e.skips());
    let e = effect(Upgrade::Stateless, "latest-offset", "earliest", &[]);
    assert!(e.skips(), "latest skips what is produced between stop and start, whatever the counts");
    let e = effect(Upgrade::Stateless, "earliest-offset", "earliest", &half_committed());
    assert_eq!(e.reread, None, "what the old job read of partition 1 is unknown");
    assert!(
        e.line().contains("again from the earliest offset: the messages the old job read are read again"),
        "{}",
        e.line()
    );
}

#[test]
fn a_timestamp_rereads_back_to_it_and_skips_up_to_it() {
    let e = effect(Upgrade::Stateless, "timestamp", "earliest", &committed());
    // Partition 0: from 60, read to 100: 40 again. Partition 1: from 50 (the end), read
    // to 20: 20..50 skipped.
    assert_eq!((e.reread, e.skipped), (Some(40), Some(30)));
}

#[test]
fn offsets_that_cannot_be_read_say_why_and_give_no_counts() {
    let e = DataEffect::of(Upgrade::Stateless, |_: &str| None, Err("broker unreachable"));
    assert_eq!((e.reread, e.skipped, e.lag), (None, None, None));
    assert!(e.line().ends_with("(the topic's offsets could not be read: broker unreachable)"), "{}", e.line());
}

#[test]
fn a_stopped_job_reads_nothing_and_its_topic_is_not_counted() {
    let e = DataEffect::stopped();
    assert!(!e.counts());
    assert_eq!(e.line(), "data: the job stays stopped: nothing is read until `flinkform start`");
    assert!(!e.skips());
}
