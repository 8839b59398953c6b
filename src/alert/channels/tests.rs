use super::{Answer, judge, request, text};
use flinkform_core::spec::{AlertOn, ChannelKind};
use flinkform_core::state::{ReviewRef, Stamp};
use flinkform_core::watch::alerts::Alert;

fn alert(what: &str) -> Alert {
    Alert {
        env: "prod".into(),
        pipeline: Some("orders".into()),
        on: AlertOn::Failed,
        what: what.into(),
        diagnosis: vec!["TaskManager lost".into()],
        change: Some(Stamp {
            at: "2026-12-07T10:00:00Z".into(),
            by: Some("alice".into()),
            commit: Some("0123456789abcdef0123".into()),
            review: Some(ReviewRef { name: "o/r#7".into(), url: Some("https://github.com/o/r/pull/7".into()) }),
            plan: Some("feedbeefcafe00112233".into()),
        }),
    }
}

#[test]
fn the_text_names_what_happened_the_diagnosis_and_the_change() {
    let (subject, body) = text(&[alert("job j FAILED")], true);
    assert_eq!(subject, "flinkform prod · orders: failed");
    for part in [
        "job j FAILED",
        "VVP's diagnosis: TaskManager lost",
        "by alice",
        "from [o/r#7](https://github.com/o/r/pull/7)",
        "commit 0123456789ab",
        "plan feedbeefcafe",
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }
}

#[test]
fn a_signed_dingtalk_address_keeps_its_token_and_adds_an_encoded_signature() {
    let r = request(
        ChannelKind::DingTalk,
        "https://h/robot/send?access_token=t",
        Some("SEC"),
        &[alert("x")],
        1_700_000_000_123,
    );
    let (base, query) = r.url.split_once("&timestamp=").unwrap();
    assert_eq!(base, "https://h/robot/send?access_token=t");
    let (ts, sign) = query.split_once("&sign=").unwrap();
    assert_eq!(ts, "1700000000123");
    assert!(!sign.is_empty() && sign.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%'), "{sign}");
    let unsigned = request(ChannelKind::DingTalk, "https://h/robot/send?access_token=t", None, &[alert("x")], 1);
    assert_eq!(unsigned.url, "https://h/robot/send?access_token=t");
}

#[test]
fn a_wecom_message_is_cut_to_its_documented_size_on_a_character_boundary() {
    let r = request(ChannelKind::WeCom, "https://h", None, &[alert(&"告".repeat(3000))], 1);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let content = v["markdown"]["content"].as_str().unwrap();
    assert!(content.len() <= 4096 && content.len() > 4090, "{}", content.len());
}

#[test]
fn answers_are_judged_as_each_vendor_documents_them() {
    assert_eq!(judge(ChannelKind::DingTalk, 200, r#"{"errcode":0,"errmsg":"ok"}"#), Answer::Ok);
    assert!(
        matches!(judge(ChannelKind::DingTalk, 200, r#"{"errcode":310000,"errmsg":"sign not match"}"#), Answer::Refused(m) if m.contains("310000"))
    );
    assert!(matches!(
        judge(ChannelKind::DingTalk, 200, r#"{"errcode":130101,"errmsg":"send too fast"}"#),
        Answer::Retry(_)
    ));
    assert!(matches!(judge(ChannelKind::WeCom, 200, r#"{"errcode":45009,"errmsg":"freq"}"#), Answer::Retry(_)));
    assert_eq!(judge(ChannelKind::Feishu, 200, r#"{"code":0,"msg":"success"}"#), Answer::Ok);
    assert!(matches!(judge(ChannelKind::Feishu, 200, r#"{"code":19021,"msg":"sign match fail"}"#), Answer::Refused(_)));
    assert_eq!(judge(ChannelKind::Slack, 200, "ok"), Answer::Ok);
    assert!(matches!(judge(ChannelKind::Slack, 404, "no_service"), Answer::Refused(_)));
    assert!(matches!(judge(ChannelKind::Webhook, 503, ""), Answer::Retry(_)));
    assert!(matches!(judge(ChannelKind::Webhook, 429, ""), Answer::Retry(_)));
}

#[test]
fn alerts_raised_together_are_one_message_with_a_section_each() {
    let (subject, body) = text(&[alert("job a FAILED"), alert("job b FAILED")], false);
    assert_eq!(subject, "flinkform: 2 alerts");
    assert!(body.starts_with("flinkform: 2 alerts\n\nflinkform prod · orders: failed\njob a FAILED"), "{body}");
    assert!(body.contains("\n\nflinkform prod · orders: failed\njob b FAILED"), "{body}");
    let r = request(ChannelKind::Webhook, "http://h", None, &[alert("a"), alert("b")], 1);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 2);
}
