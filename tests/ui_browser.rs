//! The web UI in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver with fantoccini) against the real server with real journaled
//! mail: each role's flows end to end, each role refused the others' pages (by the page
//! and by the API), the session cookie's flags, CSRF refusal, and a hostile-HTML corpus
//! opened in the browser with no script run and no request to anything but the server.
//!
//! One browser and one server for the whole binary (CI has 2 cores): the phases run in
//! order in one test, each a function named for what it shows. Skipped, with a message,
//! only when chromium or chromedriver is not installed (`scripts/test` installs both).
//!
//! With `COFFER_UI_SCREENSHOTS=DIR` the test also writes a PNG of every page it visits
//! for every role, at 1280 and 390 pixels wide (`scripts/ui-screenshots`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coffer_testkit::server::KillOnDrop;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const PASSWORD: &str = "ui-browser-test-password-1";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A TCP listener that must receive nothing: the hostile corpus points every remote
/// reference at it, so one connection means the browser fetched remote content.
struct Tripwire {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Tripwire {
    fn start() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind tripwire");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut s) = stream {
                    let mut buf = [0u8; 1024];
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                }
            }
        });
        Tripwire { addr, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// chromedriver (killed on drop) and one browser session.
struct Browser {
    client: Client,
    base: String,
    shots: Option<PathBuf>,
    /// Where the browser saves downloads (a real download, as a person would click it).
    downloads: tempfile::TempDir,
    _driver: KillOnDrop,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Browser {
    async fn start(server: SocketAddr) -> Browser {
        let port = free_port();
        let driver = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = KillOnDrop::new(driver);
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("download dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--no-first-run", "--no-default-browser-check",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-extensions", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                },
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Browser {
            client,
            base: format!("http://{server}"),
            shots: std::env::var_os("COFFER_UI_SCREENSHOTS").map(PathBuf::from),
            downloads,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn open(&self, fragment: &str) {
        self.client
            .goto(&format!("{}/{fragment}", self.base))
            .await
            .expect("navigate");
    }

    /// Waits for `css` (10 s).
    async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
    }

    /// Waits until the text of `css` contains `needle`, and returns it.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
                && text.contains(needle)
            {
                return text;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let body = self.body_text().await;
                panic!("{css} never contained {needle:?}; page: {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (10 s) for the browser to finish downloading `name`; its bytes.
    async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let started = Instant::now();
        loop {
            // Chromium writes `NAME.crdownload` and renames it when complete.
            if let Ok(bytes) = std::fs::read(&path)
                && !bytes.is_empty()
            {
                return bytes;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let present: Vec<_> = std::fs::read_dir(self.downloads.path())
                    .map(|d| d.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                panic!("{name} was not downloaded; the download folder holds {present:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The texts of every element matching `css`.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for el in self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
        {
            out.push(el.text().await.expect("text"));
        }
        out
    }

    /// Whether an element matching `css` is on the page now.
    async fn present(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let el = self.wait(css).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("click");
    }

    async fn sign_in(&self, username: &str, password: &str) {
        self.open("#/login").await;
        self.fill("[data-testid=login-form] input[name=username]", username)
            .await;
        self.fill("[data-testid=login-form] input[name=password]", password)
            .await;
        self.click("[data-testid=login-form] button[type=submit]")
            .await;
        self.wait_text("[data-testid=whoami]", username).await;
    }

    async fn sign_out(&self) {
        self.click("[data-testid=logout]").await;
        self.wait("[data-testid=login-form]").await;
    }

    /// Runs `script` (an async function body given `done`) in the page.
    async fn run(&self, script: &str) -> Value {
        self.client
            .execute_async(
                &format!("const done = arguments[arguments.length - 1]; {script}"),
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// A request from the page with its cookie: `{status, type, body}`.
    async fn fetch(&self, method: &str, path: &str, body: Option<Value>, csrf: bool) -> Value {
        let body = body.map_or("undefined".to_string(), |b| format!("JSON.stringify({b})"));
        self.run(&format!(
            r#"(async () => {{
                const headers = {{'Content-Type': 'application/json'}};
                if ({csrf}) {{
                    const me = await (await fetch('/api/v1/session')).json();
                    headers['X-CSRF-Token'] = me.csrf;
                }}
                const r = await fetch({path:?}, {{method: {method:?}, headers, body: {body}}});
                const text = await r.text();
                done({{status: r.status, type: r.headers.get('content-type'), body: text.slice(0, 2000)}});
            }})().catch(e => done({{error: String(e)}}));"#
        ))
        .await
    }

    /// Saves a screenshot as `DIR/ROLE-NAME-WIDTH.png` at 1280 and 390 px (when asked).
    async fn shot(&self, role: &str, name: &str) {
        let Some(dir) = &self.shots else { return };
        std::fs::create_dir_all(dir).expect("screenshot dir");
        for (width, height) in [(1280u32, 900u32), (390, 844)] {
            self.client
                .set_window_size(width, height)
                .await
                .expect("resize");
            tokio::time::sleep(Duration::from_millis(250)).await;
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{role}-{name}-{width}.png")), png)
                .expect("write screenshot");
        }
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
    }
}

/// A plain business message with a PDF attachment and an HTML alternative.
fn business_message(to: &str, bcc: Option<&str>, subject: &str, words: &str) -> Vec<u8> {
    let bcc = bcc.map_or(String::new(), |b| format!("Bcc: {b}\r\n"));
    format!(
        "From: Fiona Finance <fiona@corp.example>\r\nTo: {to}\r\n{bcc}Subject: {subject}\r\n\
Date: Tue, 10 Mar 2026 09:30:00 +0000\r\nMessage-ID: <{subject}@ui.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\n{words}\r\n\r\nFiona\r\n--alt\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello,</p><p><b>{words}</b></p>\
<p><a href=\"https://intranet.corp.example/reports\">Reports</a></p>\r\n--alt--\r\n--outer\r\n\
Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"forecast.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrCg==\r\n--outer--\r\n"
    )
    .into_bytes()
}

/// A short plain-text message of a given date.
fn dated_message(to: &str, date: &str, subject: &str, words: &str) -> Vec<u8> {
    format!(
        "From: Paul Past <paul@outside.example>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\
Message-ID: <{}@dated.ui.test>\r\n\r\n{words}\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

/// The hostile-HTML corpus: one message per payload family. Every remote reference
/// points at the tripwire; every script, if it ran, would change the page title, raise
/// an alert or contact the tripwire.
fn hostile_messages(trip: SocketAddr) -> Vec<(String, String)> {
    let t = format!("http://{trip}");
    let js =
        format!("top.document.title='PWNED';alert(1);fetch('{t}/xss');new Image().src='{t}/img'");
    let families: Vec<(&str, String)> = vec![
        (
            "script-tags",
            format!("<script>{js}</script><script src=\"{t}/s.js\"></script><p>script tags</p>"),
        ),
        (
            "event-handlers",
            format!(
                "<img src=x onerror=\"{js}\"><body onload=\"{js}\"><div onmouseover=\"{js}\">hover</div><svg onload=\"{js}\"></svg><details open ontoggle=\"{js}\">d</details>"
            ),
        ),
        (
            "javascript-urls",
            format!(
                "<a href=\"javascript:{js}\">js link</a><a href=\"&#106;avascript:alert(1)\">entity</a><a href=\" JaVaScRiPt:alert(1)\">case</a><iframe src=\"javascript:alert(1)\"></iframe><form action=\"javascript:alert(1)\"><button>go</button></form>"
            ),
        ),
        (
            "data-urls",
            format!(
                "<a href=\"data:text/html,<script>alert(1)</script>\">data link</a><iframe src=\"data:text/html,<script>{js}</script>\"></iframe><object data=\"data:text/html,<script>alert(1)</script>\"></object><embed src=\"data:image/svg+xml,<svg onload=alert(1)>\"><img src=\"data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script><image href='{t}/svgimg'/></svg>\">"
            ),
        ),
        (
            "svg-mathml",
            format!(
                "<svg><script>{js}</script><image href=\"{t}/svg-image\"/><use href=\"{t}/use#x\"/><a xlink:href=\"javascript:alert(1)\"><text>t</text></a><animate attributeName=href to=\"javascript:alert(1)\"/></svg><math><maction actiontype=statusline xlink:href=\"javascript:alert(1)\">m</maction><mi xlink:href=\"{t}/math\">x</mi></math>"
            ),
        ),
        (
            "css-tricks",
            format!(
                "<style>@import url({t}/import.css);body{{background:url({t}/bg.png)}}@font-face{{font-family:x;src:url({t}/font.woff)}}</style><link rel=stylesheet href=\"{t}/link.css\"><div style=\"background-image:url({t}/inline.png);font-family:x\">css</div><p style=\"behavior:url({t}/x.htc);-moz-binding:url({t}/x.xml)\">b</p>"
            ),
        ),
        (
            "meta-refresh-base",
            format!(
                "<meta http-equiv=\"refresh\" content=\"0;url={t}/refresh\"><base href=\"{t}/\"><a href=\"relative\">relative</a><meta http-equiv=\"Content-Security-Policy\" content=\"default-src *\">"
            ),
        ),
        (
            "forms",
            format!(
                "<form action=\"{t}/post\" method=post><input name=q value=secret><input type=image src=\"{t}/input.png\"><button formaction=\"{t}/fa\">Send</button></form><isindex action=\"{t}/isindex\">"
            ),
        ),
        (
            "remote-content",
            format!(
                "<img src=\"{t}/pixel.gif\" width=1 height=1><img srcset=\"{t}/a.png 1x, {t}/b.png 2x\"><picture><source srcset=\"{t}/p.webp\"><img src=\"{t}/p.png\"></picture><video poster=\"{t}/poster.png\" src=\"{t}/v.mp4\"></video><audio src=\"{t}/a.mp3\"></audio><table background=\"{t}/table.png\"><tr><td background=\"{t}/td.png\">cell</td></tr></table><iframe src=\"{t}/frame\"></iframe><object data=\"{t}/obj\"></object><embed src=\"{t}/embed\"><a href=\"{t}/ping\" ping=\"{t}/pinged\">ping</a><img src=\"cid:logo@corp\"><img lowsrc=\"{t}/low\" dynsrc=\"{t}/dyn\">"
            ),
        ),
        (
            "mutation-xss",
            format!(
                "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>\
<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">\
<math><mi><table><mi><mglyph><svg><mtext><textarea><path id=\"</textarea><img onerror=alert(1) src=1>\"></path></textarea></mtext></svg></mglyph></mi></table></mi></math>\
<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>\
<svg><style><img src=x onerror=alert(1)></style></svg>\
<math><mtext><table><mglyph><style><img src=x onerror=\"{js}\">\
<template><script>alert(1)</script></template><xmp><img src=x onerror=alert(1)></xmp>\
<a href=\"{t}/ok\" rel=\"opener\" target=\"_top\">top link</a>\
<img src=\"x` `<script>alert(1)</script>\"` `>\
<listing>&lt;img src=x onerror=alert(1)&gt;</listing>\
<!--<img src=\"--><img src=x onerror=alert(1)//\">-->"
            ),
        ),
    ];
    families
        .into_iter()
        .map(|(name, html)| {
            let subject = format!("hostile {name}");
            let raw = format!(
                "From: Mallory <mallory@outside.example>\r\nTo: ursula@corp.example\r\nSubject: {subject}\r\n\
Date: Wed, 11 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{name}@hostile.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>x</title></head><body><p>payload {name}</p>{html}</body></html>\r\n"
            );
            (subject, raw)
        })
        .collect()
}

async fn journal(addr: SocketAddr, token: &str, rcpts: &[&str], raw: &[u8]) -> String {
    let query: Vec<String> = rcpts
        .iter()
        .map(|r| format!("rcpt={}", r.replace('@', "%40")))
        .collect();
    let r = http::request(
        addr,
        "POST",
        &format!(
            "/api/v1/messages?mail_from=sender%40outside.example&{}",
            query.join("&")
        ),
        Some(token),
        Some("message/rfc822"),
        raw,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().expect("id").to_string()
}

fn chromium_present() -> bool {
    std::fs::symlink_metadata(CHROMIUM).is_ok() && std::fs::symlink_metadata(CHROMEDRIVER).is_ok()
}

#[test]
fn web_ui_in_chromium_end_to_end() {
    if !chromium_present() {
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is not installed (apt-get install chromium chromium-driver; scripts/test installs them)"
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // Loopback is a trusted proxy here, so a request that says it came over TLS gets a
    // Secure cookie.
    std::fs::write(
        data.join("coffer.toml"),
        "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    )
    .expect("config");
    let server = start_server(&data, &["--local-domain", "corp.example"], "warn");
    let addr = server.addr;
    add_user(
        &data,
        &[
            "user",
            "add",
            "oscar",
            "--role",
            "officer",
            "--domain",
            "corp.example",
        ],
        PASSWORD,
    );
    add_user(
        &data,
        &["user", "add", "audrey", "--role", "auditor"],
        PASSWORD,
    );
    add_user(
        &data,
        &["user", "add", "admin2", "--role", "admin"],
        PASSWORD,
    );
    add_user(
        &data,
        &[
            "user",
            "add",
            "ursula",
            "--role",
            "user",
            "--mailbox",
            "ursula@corp.example",
        ],
        PASSWORD,
    );
    add_user(
        &data,
        &[
            "user",
            "add",
            "victor",
            "--role",
            "user",
            "--mailbox",
            "victor@corp.example",
        ],
        PASSWORD,
    );
    let token: Value =
        serde_json::from_str(&cli(&data, &["token", "create", "--name", "mx", "--json"]))
            .expect("json");
    let token = token["token"].as_str().expect("token").to_string();
    cli(&data, &["retention", "policy", "set", "standard", "10y"]);
    // Dora's mailbox keeps mail for a year: her mail from 2015 is past retention, for
    // the disposition runs. (Assigned before the default, so it is a first decision and
    // not a shortening that waits for a second administrator.)
    cli(&data, &["retention", "policy", "set", "short", "1y"]);
    cli(
        &data,
        &[
            "retention",
            "assign",
            "--mailbox",
            "dora@corp.example",
            "short",
        ],
    );
    cli(&data, &["retention", "assign", "--default", "standard"]);

    let trip = Tripwire::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let forecast = journal(
            addr,
            &token,
            &["ursula@corp.example", "victor@corp.example"],
            &business_message(
                "ursula@corp.example",
                Some("victor@corp.example"),
                "Quarterly forecast",
                "The quarterly revenue forecast is attached.",
            ),
        )
        .await;
        for i in 0..3 {
            journal(
                addr,
                &token,
                &["ursula@corp.example"],
                &business_message(
                    "ursula@corp.example",
                    None,
                    &format!("Weekly note {i}"),
                    "Weekly numbers, nothing quarterly.",
                ),
            )
            .await;
        }
        // Ursula's archive reaches back to 2009 (past the 10 years of "standard", but
        // she is under legal hold by the time dispositions run: left alone).
        let old_times = journal(
            addr,
            &token,
            &["ursula@corp.example"],
            &dated_message(
                "ursula@corp.example",
                "Fri, 15 May 2009 08:00:00 +0000",
                "Old times",
                "Oldtimesword from long ago.",
            ),
        )
        .await;
        // Dora's expired mail, what the disposition runs are about.
        let mut dora = Vec::new();
        for (i, date) in [
            "Mon, 01 Jun 2015 09:00:00 +0000",
            "Wed, 01 Jul 2015 09:00:00 +0000",
            "Sun, 10 Jan 2016 09:00:00 +0000",
        ]
        .into_iter()
        .enumerate()
        {
            dora.push(
                journal(
                    addr,
                    &token,
                    &["dora@corp.example"],
                    &dated_message(
                        "dora@corp.example",
                        date,
                        &format!("Dora report {i}"),
                        "Dorareportword, expired long since.",
                    ),
                )
                .await,
            );
        }
        let mut hostile = Vec::new();
        for (subject, raw) in hostile_messages(trip.addr) {
            hostile.push((
                subject,
                journal(addr, &token, &["ursula@corp.example"], raw.as_bytes()).await,
            ));
        }

        let browser = Browser::start(addr).await;
        cookie_flags_and_csrf(addr, &browser).await;
        officer_flows(&browser, &forecast).await;
        user_flows(&browser, &forecast).await;
        hostile_html_runs_nothing_and_fetches_nothing(&browser, &hostile, &trip).await;
        auditor_flows(&browser).await;
        admin_flows(&browser).await;
        disposition_flows(&browser, &data, &dora, &old_times).await;
        password_change(&browser).await;
        let title = browser.client.title().await.expect("title");
        assert!(!title.contains("PWNED"), "a payload ran: {title}");
        assert_eq!(trip.hits(), 0, "the browser contacted a remote address");
        browser.client.clone().close().await.expect("close browser");
    });
    drop(server);
}

/// The cookie's flags (plain HTTP, then "over TLS" through a trusted proxy), a
/// state change refused without the CSRF token and accepted with it, and the cookie
/// out of reach of scripts.
async fn cookie_flags_and_csrf(addr: SocketAddr, browser: &Browser) {
    let login = json!({"username": "oscar", "password": PASSWORD}).to_string();
    let plain = http::request(
        addr,
        "POST",
        "/api/v1/session/cookie",
        None,
        Some("application/json"),
        login.as_bytes(),
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    let cookie = plain.header("set-cookie").expect("set-cookie").to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(plain.json()["csrf"].as_str().is_some_and(|c| c.len() == 64));
    let over_tls = http_with_headers(
        addr,
        "POST",
        "/api/v1/session/cookie",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-Proto", "https"),
        ],
        login.as_bytes(),
    )
    .await;
    assert!(over_tls.contains("Secure"), "{over_tls}");

    // The session cookie alone reads, but changes nothing without the CSRF token.
    let session = cookie.split(';').next().expect("pair").to_string();
    let csrf = plain.json()["csrf"].as_str().expect("csrf").to_string();
    let hold = json!({"name": "csrf-probe", "reason": "r", "custodians": ["ursula@corp.example"]})
        .to_string();
    let read = http_with_headers(addr, "GET", "/api/v1/holds", &[("Cookie", &session)], b"").await;
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    let refused = http_with_headers(
        addr,
        "POST",
        "/api/v1/holds",
        &[("Cookie", &session), ("Content-Type", "application/json")],
        hold.as_bytes(),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("x-csrf-token"), "{refused}");
    let wrong = http_with_headers(
        addr,
        "POST",
        "/api/v1/holds",
        &[
            ("Cookie", &session),
            ("Content-Type", "application/json"),
            ("X-CSRF-Token", &"0".repeat(64)),
        ],
        hold.as_bytes(),
    )
    .await;
    assert!(wrong.starts_with("HTTP/1.1 403"), "{wrong}");
    let accepted = http_with_headers(
        addr,
        "POST",
        "/api/v1/holds",
        &[
            ("Cookie", &session),
            ("Content-Type", "application/json"),
            ("X-CSRF-Token", &csrf),
        ],
        hold.as_bytes(),
    )
    .await;
    assert!(accepted.starts_with("HTTP/1.1 20"), "{accepted}");
    // A journal token in the cookie is not a session.
    let journal_cookie = http_with_headers(
        addr,
        "GET",
        "/api/v1/session",
        &[("Cookie", "coffer_session=cj_nothing")],
        b"",
    )
    .await;
    assert!(
        journal_cookie.starts_with("HTTP/1.1 401"),
        "{journal_cookie}"
    );

    // The same in the browser: the page never sees the cookie; a fetch without the
    // header is refused.
    browser.sign_in("oscar", PASSWORD).await;
    let cookies = browser.run("done(document.cookie)").await;
    assert_eq!(
        cookies,
        json!(""),
        "the session cookie is readable by scripts"
    );
    let r = browser.fetch("POST", "/api/v1/holds", Some(json!({"name": "csrf-browser", "reason": "r", "custodians": ["ursula@corp.example"]})), false).await;
    assert_eq!(r["status"], 403, "{r}");
    let r = browser.fetch("POST", "/api/v1/holds", Some(json!({"name": "csrf-browser", "reason": "r", "custodians": ["ursula@corp.example"]})), true).await;
    assert_eq!(r["status"], 201, "{r}");
    // The UI's own security headers.
    let page = http::get(addr, "/", None).await;
    let csp = page.header("content-security-policy").expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    browser.sign_out().await;
}

/// One raw request with extra headers; the whole response as text.
async fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    String::from_utf8_lossy(&raw).into_owned()
}

/// Officer: search (syntax help, a query error at its position, totals, highlights,
/// filters), the message view, downloads, the proof, retention, a hold placed, their own
/// audit trail; refused the administrator's pages.
async fn officer_flows(browser: &Browser, forecast: &str) {
    browser.sign_in("oscar", PASSWORD).await;
    browser.wait("[data-testid=search-form]").await;
    browser.shot("officer", "search-empty").await;
    browser.fill("[data-testid=query]", "quarterly").await;
    browser
        .click("[data-testid=search-form] button[type=submit]")
        .await;
    let total = browser.wait_text("[data-testid=total]", "message").await;
    assert!(total.starts_with("4 messages"), "{total}");
    let marked = browser
        .wait("[data-testid=hit] mark")
        .await
        .text()
        .await
        .expect("mark");
    assert_eq!(marked.to_lowercase(), "quarterly");
    // The whole search page (document, script, style, icon, session, one page of
    // results), fetched uncached, stays under 200 KB.
    let weight = browser
        .run(
            "(async () => { let n = 0; for (const u of ['/', '/ui/app.js', '/ui/app.css', '/ui/icon.svg', '/api/v1/session', '/api/v1/search?q=quarterly&limit=20&offset=0&sort=relevance']) { n += (await (await fetch(u, {cache: 'no-store'})).arrayBuffer()).byteLength; } done(n); })()",
        )
        .await;
    let weight = weight.as_f64().expect("bytes");
    assert!(
        weight > 20_000.0 && weight < 200_000.0,
        "the search page weighs {weight} bytes"
    );
    eprintln!("search page with results: {weight} bytes");
    browser.click("#syntax-help summary").await;
    browser.shot("officer", "search-results").await;
    // Filters: attachments only and a mailbox.
    browser
        .open("#/search?q=forecast&attachments=1&mailbox=victor%40corp.example")
        .await;
    let total = browser.wait_text("[data-testid=total]", "message").await;
    assert!(total.starts_with("1 message"), "{total}");
    // An error is shown at its position.
    browser.open("#/search?q=subject%3A(budget").await;
    let caret = browser
        .wait("[data-testid=query-caret]")
        .await
        .text()
        .await
        .expect("caret");
    assert!(caret.contains('^'), "{caret}");
    browser.shot("officer", "search-error").await;

    // The message view.
    browser.open(&format!("#/message/{forecast}")).await;
    browser
        .wait_text("[data-testid=message-subject]", "Quarterly forecast")
        .await;
    let headers = browser
        .wait("[data-testid=headers]")
        .await
        .text()
        .await
        .expect("headers");
    assert!(
        headers.contains("victor@corp.example"),
        "the officer sees the Bcc: {headers}"
    );
    browser
        .wait_text("[data-testid=text-body]", "revenue forecast")
        .await;
    browser.wait("[data-testid=html-frame]").await;
    // The body's links are listed outside the frame, to be opened deliberately.
    browser.click("[data-testid=links] summary").await;
    browser
        .wait_text("[data-testid=links]", "intranet.corp.example/reports")
        .await;
    let raw = browser
        .wait("[data-testid=raw-download]")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("href");
    let r = browser.fetch("GET", &raw, None, false).await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["type"], "message/rfc822");
    let att = browser
        .wait("[data-testid=attachment-download]")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("href");
    let r = browser.fetch("GET", &att, None, false).await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["type"], "application/pdf");
    browser.click("[data-testid=show-proof]").await;
    browser
        .wait_text("[data-testid=proof]", "Merkle root")
        .await;
    browser.shot("officer", "message").await;
    browser.click("[data-testid=show-retention]").await;
    browser
        .wait_text("[data-testid=retention-explanation]", "standard")
        .await;

    // A hold on the custodian.
    browser
        .open("#/holds?custodians=ursula%40corp.example")
        .await;
    browser.fill("[data-testid=hold-name]", "matter-ui-1").await;
    browser
        .fill("[data-testid=hold-reason]", "Litigation hold from the UI")
        .await;
    browser
        .click("[data-testid=hold-form] button[type=submit]")
        .await;
    browser
        .wait_text("[data-testid=notice]", "is in force")
        .await;
    browser
        .wait_text("[data-testid=holds]", "matter-ui-1")
        .await;
    browser.shot("officer", "holds").await;
    // Release one (the first row: the hold placed through the API above).
    browser
        .fill("[data-testid=hold-row] input", "Matter closed")
        .await;
    browser.click("[data-testid=hold-row] form button").await;
    browser.wait_text("[data-testid=notice]", "released").await;
    browser
        .wait_text("[data-testid=holds]", "Matter closed")
        .await;

    // Their own audit trail shows the search and the view.
    browser.open("#/audit?action=message.").await;
    browser.wait_text("[data-testid=audit]", forecast).await;
    browser.shot("officer", "audit").await;
    browser.open("#/volumes").await;
    browser.wait("[data-testid=volumes]").await;
    browser.open("#/retention").await;
    browser.wait("[data-testid=retention-report]").await;
    browser.shot("officer", "retention").await;

    // Refused: the administrator's pages, by the page and by the API.
    for page in ["users", "tokens"] {
        browser.open(&format!("#/{page}")).await;
        browser.wait("[data-testid=denied]").await;
    }
    browser.shot("officer", "denied").await;
    assert_eq!(
        browser.fetch("GET", "/api/v1/users", None, false).await["status"],
        403
    );
    browser.sign_out().await;
}

/// User: their own archive by the years and months that hold their mail (2009 among
/// them, nobody else's years), search, the message view without another recipient's
/// Bcc; refused the officer's, auditor's and administrator's pages.
async fn user_flows(browser: &Browser, forecast: &str) {
    browser.sign_in("ursula", PASSWORD).await;
    browser.wait_text("[data-testid=total]", "messages").await;
    browser.shot("user", "archive").await;
    // The years listed are those holding her mail — this year's and 2009 — and no
    // other: not Dora's 2015 and 2016 (outside her scope), no empty year between.
    browser.wait("[data-testid=year-2009]").await;
    let years = browser.texts("[data-testid=years] a").await;
    assert_eq!(years.len(), 3, "{years:?}: {}", browser.body_text().await);
    let count = |label: &str| -> u64 {
        label
            .rsplit_once('(')
            .and_then(|(_, n)| n.trim_end_matches(')').replace(',', "").parse().ok())
            .unwrap_or_else(|| panic!("no count in {label:?}"))
    };
    assert!(years[0].starts_with("All ("), "{years:?}");
    assert!(years[1].starts_with("2026 ("), "{years:?}");
    assert_eq!(years[2], "2009 (1)", "{years:?}");
    assert_eq!(count(&years[0]), count(&years[1]) + 1, "{years:?}");
    let total = browser.wait_text("[data-testid=total]", "messages").await;
    assert!(
        total.starts_with(&format!("{} messages", count(&years[0]))),
        "{total} vs {years:?}"
    );
    // 2009: one month holds mail, and it lists the message.
    browser.click("[data-testid=year-2009]").await;
    browser.wait_text("[data-testid=months]", "May (1)").await;
    assert_eq!(browser.texts("[data-testid=months] a").await, ["May (1)"]);
    browser.shot("user", "archive-2009").await;
    browser.click("[data-testid=month-05]").await;
    browser
        .wait("[data-testid=month-05][aria-current=page]")
        .await;
    let total = browser.wait_text("[data-testid=total]", "message").await;
    assert!(total.starts_with("1 message"), "{total}");
    browser.wait_text("[data-testid=hit]", "Old times").await;
    browser.open("#/browse?year=2026&month=03").await;
    let total = browser.wait_text("[data-testid=total]", "messages").await;
    assert!(!total.starts_with("0 "), "{total}");
    browser.open("#/search?q=quarterly").await;
    browser.wait_text("[data-testid=total]", "message").await;
    browser.shot("user", "search").await;
    browser.open(&format!("#/message/{forecast}")).await;
    browser
        .wait_text("[data-testid=message-subject]", "Quarterly forecast")
        .await;
    browser
        .wait_text("[data-testid=text-body]", "revenue forecast")
        .await;
    let page = browser.body_text().await;
    assert!(
        !page.contains("victor@corp.example"),
        "a user saw another recipient's Bcc: {page}"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=show-proof]"))
            .await
            .is_err()
    );
    browser.shot("user", "message").await;
    let raw = browser
        .fetch(
            "GET",
            &format!("/api/v1/messages/{forecast}/raw"),
            None,
            false,
        )
        .await;
    assert!(
        !raw["body"].as_str().unwrap_or_default().contains("victor@"),
        "{raw}"
    );
    for page in ["holds", "audit", "volumes", "users", "dispositions"] {
        browser.open(&format!("#/{page}")).await;
        browser.wait("[data-testid=denied]").await;
    }
    assert!(
        !browser.present("nav a[href='#/dispositions']").await,
        "a user is offered the dispositions"
    );
    for path in ["/api/v1/audit", "/api/v1/dispositions"] {
        assert_eq!(
            browser.fetch("GET", path, None, false).await["status"],
            403,
            "{path}"
        );
    }
    assert_eq!(
        browser
            .fetch("POST", "/api/v1/dispositions", None, true)
            .await["status"],
        403
    );
    assert_eq!(
        browser.fetch("GET", "/api/v1/holds", None, false).await["status"],
        403
    );
}

/// Every hostile message opened in the browser: nothing ran (no alert, the title and a
/// marker untouched), nothing was requested from anywhere but the server (the page's
/// resource timing, and the tripwire every remote reference points at).
async fn hostile_html_runs_nothing_and_fetches_nothing(
    browser: &Browser,
    hostile: &[(String, String)],
    trip: &Tripwire,
) {
    // Signed in as ursula (user_flows): the corpus is in her mailbox.
    for (i, (subject, id)) in hostile.iter().enumerate() {
        browser.open(&format!("#/message/{id}")).await;
        browser
            .wait_text("[data-testid=message-subject]", subject)
            .await;
        let frame = browser.wait("[data-testid=html-frame]").await;
        assert_eq!(
            frame.attr("sandbox").await.expect("attr"),
            Some(String::new()),
            "the frame is sandboxed with no permission"
        );
        // Let the frame load and anything in it try its luck.
        let loaded = browser.run("const f = document.querySelector('[data-testid=html-frame]'); const t = setTimeout(() => done('timeout'), 3000); f.addEventListener('load', () => { clearTimeout(t); setTimeout(() => done('loaded'), 400); }); ").await;
        let _ = loaded;
        if i == 0 {
            browser.shot("user", "hostile-message").await;
        }
        if let Ok(text) = browser.client.get_alert_text().await {
            panic!("{subject}: an alert was raised: {text}");
        }
        let title = browser.client.title().await.expect("title");
        assert!(!title.contains("PWNED"), "{subject}: a payload ran");
        let foreign = browser.run(&format!(
            "done(performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith({:?})))",
            browser.base
        )).await;
        assert_eq!(
            foreign,
            json!([]),
            "{subject}: the page requested something elsewhere"
        );
        // Clicking a link inside the frame opens nothing.
        let windows = browser.client.windows().await.expect("windows").len();
        frame.click().await.expect("click in frame");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            browser.client.windows().await.expect("windows").len(),
            windows,
            "{subject}: a window opened"
        );
        assert_eq!(
            trip.hits(),
            0,
            "{subject}: the browser contacted the tripwire"
        );
    }
    // The frame's document really is served under its own policy.
    let (_, id) = &hostile[0];
    let r = browser.run(&format!("fetch('/api/v1/messages/{id}/html').then(r => done(r.headers.get('content-security-policy')))")).await;
    let csp = r.as_str().unwrap_or_default();
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    browser.sign_out().await;
}

/// Auditor: volumes with their signed heads, a verification run and its report, the
/// audit trail with filters (the officer's views in it), the retention report; refused
/// search and content.
async fn auditor_flows(browser: &Browser) {
    browser.sign_in("audrey", PASSWORD).await;
    browser.wait("[data-testid=volumes]").await;
    let year = chrono_year();
    browser.click(&format!("[data-testid=verify-{year}]")).await;
    browser
        .wait_text("[data-testid=verify-report]", "intact")
        .await;
    browser.shot("auditor", "volumes").await;
    browser.open("#/audit?actor=oscar&action=message.").await;
    browser
        .wait_text("[data-testid=audit]", "message.view")
        .await;
    browser.shot("auditor", "audit").await;
    browser.open("#/retention").await;
    browser.wait("[data-testid=retention-report]").await;
    browser.shot("auditor", "retention").await;
    browser.open("#/holds").await;
    browser
        .wait_text("[data-testid=holds]", "matter-ui-1")
        .await;
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=hold-form]"))
            .await
            .is_err()
    );
    browser.open("#/search").await;
    browser.wait("[data-testid=denied]").await;
    browser.shot("auditor", "denied").await;
    assert_eq!(
        browser
            .fetch("GET", "/api/v1/search?q=quarterly", None, false)
            .await["status"],
        403
    );
    browser.sign_out().await;
}

fn chrono_year() -> i32 {
    // The archive files mail by receive year: this year's volume.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    1970 + (0..)
        .take_while(|y| year_start(1970 + y + 1) <= secs)
        .count() as i32
}

fn year_start(year: i64) -> i64 {
    let days: i64 = (1970..year)
        .map(|y| {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                366
            } else {
                365
            }
        })
        .sum();
    days * 86_400
}

/// Administrator: users (one added from the form), groups, domains, journal tokens,
/// a shorter retention proposed by one administrator and approved by a second (who
/// sees what they approve), dispositions; refused content.
async fn admin_flows(browser: &Browser) {
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    browser.wait("[data-testid=users]").await;
    browser.fill("[data-testid=new-username]", "newbie").await;
    browser
        .fill("[data-testid=new-mailboxes]", "newbie@corp.example")
        .await;
    browser
        .click("[data-testid=user-form] button[type=submit]")
        .await;
    let password = browser
        .wait("[data-testid=new-password]")
        .await
        .text()
        .await
        .expect("password");
    assert!(password.len() >= 10, "{password}");
    browser.wait_text("[data-testid=users]", "newbie").await;
    browser.shot("admin", "users").await;
    for page in ["groups", "domains", "tokens"] {
        browser.open(&format!("#/{page}")).await;
        browser.wait("main h1").await;
        browser.shot("admin", page).await;
    }
    browser.wait_text("[data-testid=tokens]", "mx").await;
    // A shorter period is a proposal for a second administrator.
    browser.open("#/retention").await;
    browser.fill("[data-testid=policy-name]", "standard").await;
    browser.fill("[data-testid=policy-period]", "8y").await;
    browser
        .click("[data-testid=policy-form] button[type=submit]")
        .await;
    browser
        .wait_text("[data-testid=proposals]", "pending")
        .await;
    let proposals = browser
        .wait("[data-testid=proposals]")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        proposals.contains("awaiting a second administrator"),
        "{proposals}"
    );
    browser.shot("admin", "retention").await;
    browser.open("#/search").await;
    browser.wait("[data-testid=denied]").await;
    assert_eq!(
        browser
            .fetch("GET", "/api/v1/search?q=quarterly", None, false)
            .await["status"],
        403
    );
    browser.sign_out().await;

    browser.sign_in("admin2", PASSWORD).await;
    browser.open("#/retention").await;
    let proposals = browser
        .wait_text("[data-testid=proposals]", "pending")
        .await;
    assert!(
        proposals.contains("8y") || proposals.contains("standard"),
        "the approver sees the change: {proposals}"
    );
    browser.click("[data-testid^=approve-proposal-]").await;
    browser.wait_text("[data-testid=notice]", "approved").await;
    browser.wait_text("[data-testid=policies]", "8y").await;
    browser.sign_out().await;
}

/// A user changes their own password: signed out, the old one refused, the new one works.
async fn password_change(browser: &Browser) {
    browser.sign_in("victor", PASSWORD).await;
    browser.open("#/account").await;
    let inputs = browser
        .client
        .find_all(Locator::Css("[data-testid=password-form] input"))
        .await
        .expect("inputs");
    let new = "a-brand-new-password-42";
    for (input, value) in inputs.iter().zip([PASSWORD, new, new]) {
        input.send_keys(value).await.expect("type");
    }
    browser.shot("user", "account").await;
    browser
        .click("[data-testid=password-form] button[type=submit]")
        .await;
    browser
        .wait_text("[data-testid=notice]", "Password changed")
        .await;
    // The old password is refused; the new one works, typed with the keyboard alone
    // (Tab between the fields, Enter to send).
    browser.open("#/login").await;
    browser
        .fill("[data-testid=login-form] input[name=username]", "victor")
        .await;
    browser
        .fill("[data-testid=login-form] input[name=password]", PASSWORD)
        .await;
    browser
        .click("[data-testid=login-form] button[type=submit]")
        .await;
    browser
        .wait_text("[data-testid=error]", "Wrong username or password")
        .await;
    let user = browser
        .wait("[data-testid=login-form] input[name=username]")
        .await;
    user.clear().await.expect("clear");
    user.send_keys(&format!("victor\u{E004}{new}\u{E007}"))
        .await
        .expect("type");
    browser.wait_text("[data-testid=whoami]", "victor").await;
    browser.sign_out().await;
}

/// Dispositions with four eyes, in the browser against the real endpoints: `admin`
/// proposes a run (Dora's expired mail; Ursula's 2009 message, past retention too, is
/// under legal hold and left out) and cannot approve it; `admin2` reviews it — what it
/// would destroy, per volume and policy — and rejects it with a reason (the page sends
/// the JSON body the endpoint requires), then proposes a second run; `admin`, the other
/// administrator, reviews and approves that one: it executes, the certificate is shown,
/// downloaded by the browser, and the downloaded file verifies offline with the archive's
/// public key. The officer and the auditor read the runs and the certificate and are
/// offered no action (and the API refuses them one); the user was refused the page in
/// `user_flows`.
async fn disposition_flows(browser: &Browser, data: &Path, dora: &[String], held: &str) {
    let row = |id: u32| format!("[data-testid=disposition-row][data-run='{id}']");
    // 1. admin proposes.
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    browser.open("#/dispositions").await;
    browser.wait_text("main", "No disposition runs").await;
    browser.click("[data-testid=propose-disposition]").await;
    browser
        .wait_text("[data-testid=notice]", "Run 1 proposed: 3 messages")
        .await;
    let text = browser.wait_text(&row(1), "proposed").await;
    assert!(text.contains("awaiting a second administrator"), "{text}");
    // Their own run: withdrawing is offered, approving is not (and the API refuses it).
    browser.click("[data-testid=review-disposition-1]").await;
    browser
        .wait_text(
            "[data-testid=disposition-review]",
            "another administrator must approve it",
        )
        .await;
    assert!(!browser.present("[data-testid=approve-disposition-1]").await);
    let r = browser
        .fetch("POST", "/api/v1/dispositions/1/approve", None, true)
        .await;
    assert_eq!(r["status"], 403, "{r}");
    assert!(
        r["body"]
            .as_str()
            .unwrap_or_default()
            .contains("second person"),
        "{r}"
    );
    browser.shot("admin", "dispositions-proposed").await;
    browser.sign_out().await;

    // 2. admin2 reviews run 1 and rejects it with a reason; proposes run 2.
    browser.sign_in("admin2", PASSWORD).await;
    browser.open("#/dispositions").await;
    browser.click("[data-testid=review-disposition-1]").await;
    let review = browser
        .wait_text("[data-testid=disposition-review]", "Proposed by admin")
        .await;
    assert!(review.contains("Run 1: 3 messages"), "{review}");
    let counts = browser.texts("[data-testid=review-counts] tbody tr").await;
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(
        counts[0].contains("short") && counts[0].ends_with('3'),
        "{counts:?}"
    );
    assert!(
        review.contains("Legal holds in force at proposal"),
        "the reviewer sees the holds that kept mail out: {review}"
    );
    browser.wait("[data-testid=approve-disposition-1]").await;
    browser.shot("admin", "dispositions-review").await;
    browser
        .fill("[data-testid=reject-reason]", "Wait for the 2015 tax audit")
        .await;
    browser.click("[data-testid=reject-disposition-1]").await;
    browser
        .wait_text("[data-testid=notice]", "Run 1 rejected")
        .await;
    let text = browser.wait_text(&row(1), "rejected").await;
    assert!(
        text.contains("rejected by admin2") && text.contains("Reason: Wait for the 2015 tax audit"),
        "{text}"
    );
    let r = browser
        .fetch("GET", "/api/v1/dispositions/1", None, false)
        .await;
    let rejected: Value = serde_json::from_str(r["body"].as_str().expect("body")).expect("json");
    assert_eq!(rejected["state"], "rejected", "{rejected}");
    assert_eq!(rejected["decided_by"], "admin2", "{rejected}");
    assert_eq!(
        rejected["reason"], "Wait for the 2015 tax audit",
        "{rejected}"
    );
    browser.click("[data-testid=propose-disposition]").await;
    browser
        .wait_text("[data-testid=notice]", "Run 2 proposed: 3 messages")
        .await;
    browser.sign_out().await;

    // 3. admin approves run 2 (proposed by admin2): it executes; the certificate.
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    browser.open("#/dispositions").await;
    browser.click("[data-testid=review-disposition-2]").await;
    browser
        .wait_text("[data-testid=disposition-review]", "Proposed by admin2")
        .await;
    browser.click("[data-testid=approve-disposition-2]").await;
    browser
        .wait_text(
            "[data-testid=notice]",
            "Run 2 approved and executed: 3 messages disposed of",
        )
        .await;
    let text = browser.wait_text(&row(2), "executed").await;
    assert!(text.contains("approved by admin"), "{text}");
    browser.click("[data-testid=certificate-2]").await;
    let cert = browser
        .wait_text("[data-testid=certificate]", "Records disposed of")
        .await;
    for needle in [
        "admin2",
        "Approved\nadmin",
        "Records disposed of\n3",
        "short",
    ] {
        assert!(cert.contains(needle), "{needle:?} not in {cert}");
    }
    browser.shot("admin", "dispositions-certificate").await;
    // A real download of the signed certificate: the same bytes the server holds, and
    // they verify offline.
    browser.click("[data-testid=certificate-download]").await;
    let downloaded = browser.downloaded("coffer-disposition-2.json").await;
    let from_cli = cli(data, &["disposition", "certificate", "2"]);
    assert_eq!(
        String::from_utf8_lossy(&downloaded).trim_end(),
        from_cli.trim_end()
    );
    let saved = browser.downloads.path().join("coffer-disposition-2.json");
    let out = run(coffer(data)
        .args(["disposition", "verify"])
        .arg(&saved)
        .arg("--public-key")
        .arg(data.join("keys/archive.pub")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 record(s) disposed of"),
        "{}",
        stdout(&out)
    );
    let cert: Value = serde_json::from_slice(&downloaded).expect("certificate json");
    let mut certified: Vec<&str> = cert["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    certified.sort_unstable();
    let mut expected: Vec<&str> = dora.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(certified, expected, "exactly Dora's expired mail");
    assert_eq!(cert["proposed_by"], "admin2");
    assert_eq!(cert["approved_by"], "admin");
    browser.sign_out().await;

    // 4. The officer: the runs and the certificate, no action; Dora's mail is gone, the
    // held 2009 message is not.
    browser.sign_in("oscar", PASSWORD).await;
    browser.open("#/dispositions").await;
    browser.wait_text(&row(2), "executed").await;
    for css in [
        "[data-testid=propose-disposition]",
        "[data-testid^=review-disposition-]",
        "[data-testid^=approve-disposition-]",
    ] {
        assert!(!browser.present(css).await, "the officer is offered {css}");
    }
    browser.click("[data-testid=certificate-2]").await;
    browser
        .wait_text("[data-testid=certificate]", "Records disposed of")
        .await;
    browser.shot("officer", "dispositions").await;
    for (method, path) in [
        ("POST", "/api/v1/dispositions"),
        ("POST", "/api/v1/dispositions/2/approve"),
    ] {
        assert_eq!(
            browser.fetch(method, path, None, true).await["status"],
            403,
            "{path}"
        );
    }
    let r = browser
        .fetch(
            "POST",
            "/api/v1/dispositions/1/reject",
            Some(json!({})),
            true,
        )
        .await;
    assert_eq!(r["status"], 403, "{r}");
    for id in dora {
        let r = browser
            .fetch("GET", &format!("/api/v1/messages/{id}"), None, false)
            .await;
        assert_eq!(r["status"], 404, "{id} was disposed of: {r}");
    }
    let r = browser
        .fetch("GET", &format!("/api/v1/messages/{held}"), None, false)
        .await;
    assert_eq!(r["status"], 200, "the held 2009 message is kept: {r}");
    browser.sign_out().await;

    // 5. The auditor: the runs, the certificate and the audit trail's record of it.
    browser.sign_in("audrey", PASSWORD).await;
    browser.open("#/dispositions").await;
    browser.wait_text(&row(1), "rejected").await;
    assert!(!browser.present("[data-testid=propose-disposition]").await);
    assert!(!browser.present("[data-testid^=review-disposition-]").await);
    browser.click("[data-testid=certificate-2]").await;
    browser
        .wait_text("[data-testid=certificate]", "Signature")
        .await;
    browser.shot("auditor", "dispositions").await;
    assert_eq!(
        browser
            .fetch(
                "POST",
                "/api/v1/dispositions/1/reject",
                Some(json!({})),
                true
            )
            .await["status"],
        403
    );
    browser.open("#/audit?action=disposition.").await;
    let trail = browser
        .wait_text("[data-testid=audit]", "disposition.certify")
        .await;
    assert!(
        trail.contains("disposition.reject") && trail.contains("disposition.propose"),
        "{trail}"
    );
    browser.sign_out().await;
}
