//! `serve`'s pages in headless Chromium (Debian's `chromium`), driven through WebDriver
//! (its `chromedriver`): every page loads without a console error, every link on it
//! resolves, the lineage SVG draws every pipeline of each environment, a revision diff
//! shows the lines that changed, and a phone-sized window needs no sideways scrolling.
//! Screenshots are kept in `target/serve-screenshots/`.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Served, applied_example};
use crate::common::repo;

/// A ChromeDriver and one browser session, both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.http.delete(format!("{}/session/{}", self.base, self.session)).send());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start() -> Browser {
        let exe =
            std::env::var("FLINKFORM_TEST_CHROMEDRIVER").expect("FLINKFORM_TEST_CHROMEDRIVER (set by scripts/test)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let http = crate::common::http();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let end = Instant::now() + Duration::from_secs(20);
        let session = loop {
            let r = rt.block_on(async {
                http.post(format!("{base}/session")).json(&caps).send().await?.json::<Value>().await
            });
            match r {
                Ok(v) if v["value"]["sessionId"].is_string() => {
                    break v["value"]["sessionId"].as_str().unwrap().to_string();
                }
                other if Instant::now() > end => panic!("no WebDriver session: {other:?}"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        Browser { driver, base, session, rt, http }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let v: Value = self.rt.block_on(async {
            let mut req = self.http.request(method, url);
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send().await.unwrap().json().await.unwrap()
        });
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})));
    }

    fn script(&self, js: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": js, "args": []})))
    }

    /// The console's entries since the last call, at level SEVERE.
    fn console_errors(&self) -> Vec<String> {
        let logs = self.call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"})));
        logs.as_array().unwrap().iter().filter(|l| l["level"] == "SEVERE").map(|l| l["message"].to_string()).collect()
    }

    fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None);
        let bytes = base64_decode(png.as_str().unwrap());
        let dir = repo().join("target/serve-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height})));
    }
}

/// Standard base64, as WebDriver encodes screenshots.
fn base64_decode(s: &str) -> Vec<u8> {
    let table = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).map(table).collect();
    bytes
        .chunks(4)
        .flat_map(|q| {
            let n = q.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (18 - 6 * i)));
            let keep = q.len() - 1;
            (0..keep).map(move |i| (n >> (16 - 8 * i)) as u8)
        })
        .collect()
}

#[test]
fn every_page_loads_in_chromium_without_console_errors_and_its_links_the_lineage_and_a_diff_hold() {
    let (p, emu) = applied_example(&[], true, true);
    let s = Served::start(p, emu, &[]);
    let b = Browser::start();
    // The pages: the lists, then each pipeline and apply they link to.
    let mut pages: Vec<String> = vec!["/".into(), "/lineage".into(), "/applies".into()];
    let listed = s.json("/");
    pages.extend(listed["pipelines"].as_array().unwrap().iter().map(|p| p["url"].as_str().unwrap().to_string()));
    pages.extend(
        s.json("/applies")["applies"].as_array().unwrap().iter().map(|a| a["url"].as_str().unwrap().to_string()),
    );
    assert_eq!(pages.len(), 3 + 10 + 3, "{pages:?}");
    let mut links = BTreeSet::new();
    for (i, page) in pages.iter().enumerate() {
        b.open(&format!("{}{page}", s.base));
        assert_eq!(b.script("return document.readyState"), "complete", "{page}");
        assert_eq!(b.console_errors(), Vec::<String>::new(), "console errors on {page}");
        assert!(b.script("return document.querySelector('main h1') !== null") == true, "{page} has a heading");
        // (An SVG link's `href` is no string: resolved from the attribute, as the browser does.)
        let hrefs =
            b.script("return [...document.querySelectorAll('a[href]')].map(a => new URL(a.getAttribute('href'), location.href).href)");
        links.extend(hrefs.as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()));
        b.screenshot(&format!("{i:02}-{}", page.trim_matches('/').replace('/', "_")));
    }
    // Every link to the server resolves (reviews link to the forge, elsewhere).
    let ours: Vec<&String> = links.iter().filter(|l| l.starts_with(&s.base)).collect();
    assert!(ours.len() >= pages.len(), "{ours:?}");
    for link in ours {
        let path = &link[s.base.len()..];
        assert_eq!(s.get(path).0, 200, "{link}");
    }

    // The lineage draws every pipeline of each environment.
    b.open(&format!("{}/lineage", s.base));
    let drawn = b.script(
        "return Object.fromEntries([...document.querySelectorAll('section.lineage')].map(s => [s.dataset.env, [...s.querySelectorAll('svg g.node.pipeline')].map(g => g.dataset.pipeline).sort()]))",
    );
    let all = ["clickstream", "orders", "orders_report", "payments", "shop_orders"];
    assert_eq!(drawn, json!({"default": all, "dev": [], "prod": all}));
    // Two pipelines read the topic `orders`: one node, an edge to each.
    let fed = b.script(
        "return [...document.querySelectorAll('section[data-env=default] path.edge[data-from=\"topic:orders\"]')].map(e => e.dataset.to).sort()",
    );
    assert_eq!(fed, json!(["pipeline:orders", "pipeline:orders_report"]));

    // The diff of `orders`' two revisions, chosen in the form: the watermark's delay.
    b.open(&format!("{}/env/default/pipelines/orders", s.base));
    let serials =
        b.script("return [...document.querySelectorAll('table.revisions tr[data-serial]')].map(r => r.dataset.serial)");
    let serials: Vec<&str> = serials.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(serials.len(), 2, "{serials:?}");
    let js = format!(
        "document.querySelector('select[name=from]').value = '{}'; document.querySelector('select[name=to]').value = '{}'; document.querySelector('.diff-form button').click();",
        serials[1], serials[0]
    );
    b.script(&js);
    let end = Instant::now() + Duration::from_secs(10);
    while b.script("return location.search") == "" {
        assert!(Instant::now() < end, "the form did not submit");
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = |kind: &str| {
        b.script(&format!("return [...document.querySelectorAll('pre.diff span.{kind}')].map(s => s.textContent)"))
    };
    assert_eq!(lines("del"), json!(["-  WATERMARK FOR `updated_at` AS `updated_at` - INTERVAL '5' SECOND"]));
    assert_eq!(lines("add"), json!(["+  WATERMARK FOR `updated_at` AS `updated_at` - INTERVAL '10' SECOND"]));
    b.screenshot("diff");

    // On a phone, the pages fit the width: wide tables scroll inside their box.
    b.resize(390, 844);
    for page in ["/", "/env/default/pipelines/orders", "/applies", "/lineage"] {
        b.open(&format!("{}{page}", s.base));
        let fits = b.script("return document.documentElement.scrollWidth <= window.innerWidth + 1");
        assert_eq!(fits, true, "{page} scrolls sideways on a phone");
    }
    b.screenshot("phone-pipeline");
}
