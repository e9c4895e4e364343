//! Coffer's web UI: the pages people use in a browser, embedded in the binary and served
//! by `query-api` at `/` (DESIGN.md, `ui/`).
//!
//! # Shape (decided here)
//! A small client application in plain JavaScript, HTML and CSS — no framework, no npm,
//! no build step, nothing from a CDN: three files under `ui/assets/`, compiled into the
//! binary with `include_bytes!` (so debug and release builds serve the same bytes and an
//! air-gapped host needs nothing else). The page talks to the same JSON API as every other
//! client (`/api/v1/...`), so it passes through the same single authentication point and
//! role check in `query-api` (`auth.rs`); the UI never decides what a role may do, it only
//! hides what the server would refuse, using the capability list the server derives from
//! the role table (`GET /api/v1/session`). Routing is by URL fragment (`#/search?q=...`),
//! so the server serves one document and the fragment (which can carry query text) never
//! reaches a log.
//!
//! # Sessions
//! The browser holds its session in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! under TLS) that scripts cannot read; state changes need the CSRF token the login answer
//! gives (header `X-CSRF-Token`). Both are `query-api`'s: see `query-api/src/auth.rs`.
//!
//! # Security headers
//! Every response of this router carries [`UI_CSP`]: scripts, styles and frames only from
//! this origin, no inline script, no `eval`, no plugins, not framable. The JavaScript
//! builds the page with DOM calls and `textContent`, never `innerHTML`.
//!
//! # Message HTML
//! An HTML body is shown in `<iframe sandbox>` (no scripts, an opaque origin) whose
//! document [`message_frame_document`] builds from the already-sanitized HTML (ammonia in
//! `query-api/src/render.rs`), served by `query-api` under [`MESSAGE_FRAME_CSP`]: nothing
//! may load but inline `data:` images, nothing runs. Links inside the frame do not open
//! (no popups in the sandbox, and the page's `frame-src 'self'` keeps the frame from
//! navigating away); the page lists them outside the frame, and one opens only when the
//! user clicks it (with `noopener`/`noreferrer`).

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// The Content-Security-Policy of every UI response.
pub const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The Content-Security-Policy of a message's HTML body (shown in a sandboxed frame):
/// nothing is fetched but inline images, nothing runs, no form is sent.
pub const MESSAGE_FRAME_CSP: &str = "default-src 'none'; img-src data:; \
style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox";

/// One embedded file.
struct Asset {
    /// What it is served as.
    content_type: &'static str,
    /// Its bytes.
    bytes: &'static [u8],
    /// Strong validator (SHA-256 prefix).
    etag: LazyLock<String>,
}

macro_rules! asset {
    ($file:literal, $type:literal) => {
        Asset {
            content_type: $type,
            bytes: include_bytes!(concat!("../assets/", $file)),
            etag: LazyLock::new(|| {
                let digest = Sha256::digest(include_bytes!(concat!("../assets/", $file)));
                format!("\"{}\"", hex::encode(&digest[..12]))
            }),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static APP_JS: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static APP_CSS: Asset = asset!("app.css", "text/css; charset=utf-8");
static ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// The UI's routes: `/` (the page) and `/ui/{file}` (its script, style and icon).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve(&INDEX, &headers) }),
        )
        .route(
            "/ui/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                match file.as_str() {
                    "app.js" => serve(&APP_JS, &headers),
                    "app.css" => serve(&APP_CSS, &headers),
                    "icon.svg" => serve(&ICON, &headers),
                    _ => with_security_headers(StatusCode::NOT_FOUND.into_response()),
                }
            }),
        )
}

/// An asset, or 304 when the browser has this version (revalidated on every load:
/// `no-cache`, so a new binary's files are picked up at once).
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag: &str = &asset.etag;
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_security_headers(response)
}

/// Adds the UI's security headers to `response`.
fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(UI_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The document shown in a message's sandboxed frame: `sanitized_html` (already cleaned
/// by ammonia; see the module docs) with a neutral style. Links carry no target the
/// sandbox would honour; the page lists them outside the frame.
pub fn message_frame_document(sanitized_html: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
<style>body{{font:15px/1.45 system-ui,sans-serif;color:#111;background:#fff;margin:12px;\
overflow-wrap:anywhere}}img{{max-width:100%;height:auto}}table{{max-width:100%}}\
a{{color:#0b4fa8}}</style></head><body>{sanitized_html}</body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_forbid_inline_script_and_framing() {
        assert!(UI_CSP.contains("script-src 'self'"));
        assert!(!UI_CSP.contains("unsafe-inline") && !UI_CSP.contains("unsafe-eval"));
        assert!(UI_CSP.contains("frame-ancestors 'none'"));
        assert!(MESSAGE_FRAME_CSP.starts_with("default-src 'none'"));
        assert!(MESSAGE_FRAME_CSP.contains("sandbox"));
        assert!(!MESSAGE_FRAME_CSP.contains("script-src"));
    }

    /// Whether `html` has an `on...=` attribute.
    fn has_event_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(at, _)| {
            let rest = &html[at + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn page_has_no_inline_script_or_style_attribute() {
        let page = std::str::from_utf8(INDEX.bytes).expect("utf-8");
        assert!(page.contains("<script src=\"/ui/app.js\""));
        assert!(!page.contains("<script>") && !page.contains(" style="));
        assert!(!has_event_attribute(page));
        let script = std::str::from_utf8(APP_JS.bytes).expect("utf-8");
        for sink in [
            "innerHTML",
            "outerHTML",
            "eval(",
            "new Function",
            "document.write",
        ] {
            assert!(!script.contains(sink), "app.js uses {sink}");
        }
    }
}
