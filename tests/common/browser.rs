//! A real headless Chromium driven over the W3C WebDriver protocol: `/usr/bin/chromedriver`
//! on a free loopback port, one session with a private profile, and the few commands the
//! dashboard tests need. Blocking (the tests drive processes; nothing here needs a runtime);
//! the HTTP is `testkit::http`, so this adds no dependency.
//!
//! Every new document gets a recorder (installed through the DevTools protocol before any of
//! the page's scripts, so the page's CSP does not apply to it) that notes each `alert`,
//! `confirm` and `prompt` call and each CSP violation: a payload that got past the escaping
//! shows up there even when the CSP stops it from running.
//!
//! Dropping a [`Browser`] ends the session, stops chromedriver and kills any process still
//! running with the session's private profile directory on its command line (a Chromium
//! left behind by a chromedriver that died first).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::http;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser itself, without Debian's launcher script (which only adds desktop flags).
const CHROMIUM: [&str; 2] = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

/// The W3C key of an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take (a page load on a loaded 2-core machine).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Installed on every new document: records dialogs and CSP violations in
/// `window.__lyannaSeen` (confirm answers true so a page's own "are you sure?" goes on).
const RECORDER: &str = r#"(() => {
  const seen = [];
  Object.defineProperty(window, '__lyannaSeen', { value: seen });
  window.alert = (m) => { seen.push('alert:' + String(m)); };
  window.confirm = (m) => { seen.push('confirm:' + String(m)); return true; };
  window.prompt = (m) => { seen.push('prompt:' + String(m)); return null; };
  document.addEventListener('securitypolicyviolation', (e) => {
    seen.push('csp:' + e.violatedDirective + ':' + e.blockedURI + ':' + (e.sample || ''));
  }, true);
})();"#;

/// A DOM element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub http_only: bool,
    pub same_site: String,
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; panics with what to install when
    /// either is missing (scripts/test installs the Debian packages `chromium` and
    /// `chromium-driver`).
    pub fn start() -> Self {
        let chromium = CHROMIUM
            .iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "Chromium is not installed (looked for {CHROMIUM:?}): install the Debian \
                     packages chromium and chromium-driver (scripts/test does, as root)"
                )
            });
        assert!(
            Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is not installed: install the Debian package chromium-driver \
             (scripts/test does, as root)"
        );
        let dir = tempfile::tempdir().expect("browser tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("browser home");
        // A port picked free may be taken before chromedriver binds it: try a few.
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = super::free_port();
            let log = dir.path().join("chromedriver.log");
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                // Chromium's scratch dirs, crash reports and caches stay in the private dir
                // (removed on drop), not in /tmp and ~/.config of the machine.
                .env("HOME", &home)
                .env("TMPDIR", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .env("XDG_CACHE_HOME", home.join(".cache"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            if wait_ready(&mut driver, port) {
                let session = new_session(port, chromium, &dir.path().join("profile"))
                    .unwrap_or_else(|e| {
                        let _ = driver.kill();
                        let _ = driver.wait();
                        panic!(
                            "chromedriver could not start Chromium: {e}\n--- chromedriver log ---\n{}",
                            tail(&log)
                        )
                    });
                let b = Browser {
                    driver,
                    port,
                    session,
                    dir,
                };
                b.cdp(
                    "Page.addScriptToEvaluateOnNewDocument",
                    json!({ "source": RECORDER }),
                );
                return b;
            }
            let _ = driver.kill();
            let _ = driver.wait();
            last_err = tail(&log);
        }
        panic!("chromedriver did not come up on a loopback port:\n{last_err}");
    }

    /// One WebDriver command on this session: the response's `value`, or the WebDriver
    /// error (`error: message`).
    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        call(self.port, method, &path, body)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// A Chrome DevTools protocol command (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": cmd, "params": params })),
        )
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn current_url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Every element matching the CSS selector, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self.cmd(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v.as_array()
            .map(|a| a.iter().filter_map(element_of).collect())
            .unwrap_or_default()
    }

    /// Every element matching `css` inside `el`.
    pub fn find_all_in(&self, el: &Element, css: &str) -> Vec<Element> {
        let v = self.cmd(
            "POST",
            &format!("/element/{}/elements", el.0),
            Some(json!({ "using": "css selector", "value": css })),
        );
        v.as_array()
            .map(|a| a.iter().filter_map(element_of).collect())
            .unwrap_or_default()
    }

    /// The text of the first element matching `css` inside `el` (empty when none).
    pub fn text_in(&self, el: &Element, css: &str) -> String {
        self.find_all_in(el, css)
            .first()
            .map(|e| self.text_of(e))
            .unwrap_or_default()
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<Element> {
        self.find_all(css).into_iter().next()
    }

    /// The first element matching `css`; panics with the page's URL and source when absent.
    pub fn get(&self, css: &str) -> Element {
        self.find(css).unwrap_or_else(|| {
            panic!(
                "no element {css:?} on {}\n--- page source ---\n{}",
                self.current_url(),
                self.source()
            )
        })
    }

    pub fn count(&self, css: &str) -> usize {
        self.find_all(css).len()
    }

    /// The element's rendered text.
    pub fn text_of(&self, el: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", el.0), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element's text, `None` when it left the document (the page changed under it).
    fn text_if_attached(&self, el: &Element) -> Option<String> {
        match self.try_cmd("GET", &format!("/element/{}/text", el.0), None) {
            Ok(v) => Some(v.as_str().unwrap_or_default().to_string()),
            Err(e) if e.starts_with("stale element reference") => None,
            Err(e) => panic!("WebDriver GET element text: {e}"),
        }
    }

    /// The rendered text of the first element matching `css` (panics when absent).
    pub fn text(&self, css: &str) -> String {
        self.text_of(&self.get(css))
    }

    /// The text of `css`'s first match, `None` when there is none (looked up again when the
    /// page changes between the lookup and the read).
    pub fn text_opt(&self, css: &str) -> Option<String> {
        for _ in 0..5 {
            match self.find(css) {
                None => return None,
                Some(e) => {
                    if let Some(t) = self.text_if_attached(&e) {
                        return Some(t);
                    }
                }
            }
        }
        panic!("{css:?} kept going stale");
    }

    /// The element's attribute `name` (`None` when it has none).
    pub fn attr(&self, el: &Element, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/attribute/{name}", el.0), None)
            .as_str()
            .map(str::to_string)
    }

    /// The element's DOM property `name` (e.g. an input's current `value`).
    pub fn property(&self, el: &Element, name: &str) -> Value {
        self.cmd("GET", &format!("/element/{}/property/{name}", el.0), None)
    }

    pub fn click(&self, css: &str) {
        let el = self.get(css);
        self.cmd("POST", &format!("/element/{}/click", el.0), Some(json!({})));
    }

    /// Clears the input matching `css` and types `value` into it.
    pub fn fill(&self, css: &str, value: &str) {
        let el = self.get(css);
        self.cmd("POST", &format!("/element/{}/clear", el.0), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": value })),
        );
    }

    /// Sets the `value` of the (possibly hidden) input matching `css` from a script, as an
    /// attacker's page or a stale form would hold it.
    pub fn set_value(&self, css: &str, value: &str) {
        let el = self.get(css);
        self.execute(
            "arguments[0].value = arguments[1];",
            vec![el.json(), json!(value)],
        );
    }

    /// Submits the form matching `form_css` by clicking its submit button, as a user does,
    /// and waits until the answer has loaded.
    pub fn submit(&self, form_css: &str) {
        self.follow(&format!(
            "{form_css} button[type=submit], {form_css} input[type=submit], {form_css} button:not([type])"
        ));
    }

    /// Clicks the element matching `css` (a link, a submit button) and waits until the new
    /// document has loaded: a click may return before the navigation it starts, and the old
    /// page's elements would then go stale under the test.
    pub fn follow(&self, css: &str) {
        self.execute("window.__lyannaOldDocument = true;", vec![]);
        self.click(css);
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let state = self.try_cmd(
                "POST",
                "/execute/sync",
                Some(json!({
                    "script": "return window.__lyannaOldDocument ? 'old' : document.readyState;",
                    "args": [],
                })),
            );
            // Errors while the old document is being replaced are expected: ask again.
            if matches!(&state, Ok(v) if v == "complete") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} loaded no new page within {COMMAND_TIMEOUT:?} (last: {state:?})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page; its return value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    pub fn cookies(&self) -> Vec<Cookie> {
        let v = self.cmd("GET", "/cookie", None);
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| Cookie {
                        name: c["name"].as_str().unwrap_or_default().to_string(),
                        value: c["value"].as_str().unwrap_or_default().to_string(),
                        path: c["path"].as_str().unwrap_or_default().to_string(),
                        http_only: c["httpOnly"].as_bool().unwrap_or(false),
                        same_site: c["sameSite"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    pub fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", None);
    }

    /// The text of a JavaScript dialog open now, if any.
    pub fn open_dialog(&self) -> Option<String> {
        match self.try_cmd("GET", "/alert/text", None) {
            Ok(v) => Some(v.as_str().unwrap_or_default().to_string()),
            Err(e) if e.starts_with("no such alert") => None,
            Err(e) => panic!("WebDriver GET /alert/text: {e}"),
        }
    }

    /// What the recorder saw on the current document: `alert:…`, `confirm:…`, `prompt:…`,
    /// `csp:directive:blocked:sample` entries, oldest first.
    pub fn recorded(&self) -> Vec<String> {
        let v = self.execute(
            "return Array.from(window.__lyannaSeen || ['no recorder']);",
            vec![],
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics when a dialog is open or any dialog call or CSP violation was recorded on the
    /// current page.
    pub fn assert_no_script_ran(&self, what: &str) {
        if let Some(t) = self.open_dialog() {
            panic!("{what}: a JavaScript dialog is open: {t:?}");
        }
        let seen = self.recorded();
        assert!(
            seen.is_empty(),
            "{what}: the page called dialogs or violated its CSP: {seen:?}\n--- source ---\n{}",
            self.source()
        );
    }

    /// Polls (every 100 ms, up to `timeout`) until `css` matches; panics with the page when
    /// it never does.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no {css:?} within {timeout:?} on {}\n--- page source ---\n{}",
                    self.current_url(),
                    self.source()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reloads `url` until `check` holds (a page showing state the worker changes
    /// asynchronously); panics with the last page when it never does.
    pub fn reload_until(&self, url: &str, timeout: Duration, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            self.goto(url);
            if check(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{url}: condition not met within {timeout:?}\n--- page source ---\n{}",
                    self.source()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Saves a PNG of the viewport to `path` (its directory is created).
    pub fn screenshot(&self, path: &Path) {
        let v = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(v.as_str().unwrap_or_default()).expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Saves a PNG of the whole page (beyond the viewport, up to `max_height` CSS pixels) to
    /// `path`.
    pub fn screenshot_page(&self, path: &Path, max_height: f64) {
        let m = self.cdp("Page.getLayoutMetrics", json!({}));
        let size = &m["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(1280.0);
        let height = size["height"].as_f64().unwrap_or(900.0).min(max_height);
        let v = self.cdp(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
            }),
        );
        let png = base64_decode(v["data"].as_str().unwrap_or_default()).expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// The private directory of this browser (profile, chromedriver log).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn driver_log(&self) -> String {
        tail(&self.dir.path().join("chromedriver.log"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closes Chromium; chromedriver waits for it to exit.
        let _ = http::try_request(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
            Duration::from_secs(10),
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_with_arg(&self.dir.path().to_string_lossy());
    }
}

fn call(port: u16, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    let resp = http::try_request(
        port,
        method,
        path,
        headers,
        body.as_bytes(),
        COMMAND_TIMEOUT,
    )
    .map_err(|e| format!("chromedriver did not answer: {e}"))?;
    let v: Value =
        serde_json::from_str(&resp.body).map_err(|e| format!("not JSON ({e}): {}", resp.body))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if resp.status == 200 {
        Ok(value)
    } else {
        Err(format!(
            "{}: {}",
            value["error"].as_str().unwrap_or("error"),
            value["message"].as_str().unwrap_or_default()
        ))
    }
}

/// Waits (20 s at most) until chromedriver on `port` reports ready; false when it exited.
fn wait_ready(driver: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = driver.try_wait() {
            return false;
        }
        if let Ok(v) = call(port, "GET", "/status", None) {
            if v["ready"].as_bool() == Some(true) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn new_session(port: u16, chromium: &str, profile: &Path) -> Result<String, String> {
    let caps = json!({
        "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                // A response the browser would save lands in the private dir, not ~/Downloads.
                "prefs": {
                    "download.default_directory": profile.join("downloads"),
                    "download.prompt_for_download": false,
                },
            },
        }},
    });
    let v = call(port, "POST", "/session", Some(caps))?;
    v["sessionId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no sessionId in {v}"))
}

fn element_of(v: &Value) -> Option<Element> {
    v.get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(|s| Element(s.to_string()))
}

/// The last 4 KB of a log file.
fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let start = s.len().saturating_sub(4096);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// SIGKILLs every process whose command line contains `needle` (our private profile path:
/// only processes this browser started carry it).
fn kill_with_arg(needle: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Standard base64 (with padding, no line breaks), as WebDriver sends screenshots.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}
