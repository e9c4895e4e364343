//! Turning an archived message's original bytes into what the API shows: headers,
//! text, sanitized HTML, and the attachment list — and extracting one attachment.
//!
//! # HTML
//! HTML bodies go through ammonia (no scripts, no event handlers, no `style`, no forms)
//! with remote content blocked: `src`, `srcset`, `background`, `poster` and similar
//! attributes survive only as inline `data:image/...` URLs, relative URLs are dropped
//! (they would resolve against this server), `data:` links are dropped, and links get
//! `rel="noopener noreferrer nofollow"`. Opening a message therefore never contacts a
//! sender's server (no tracking pixels). Inline images the message carries itself
//! (`cid:` references to an `image/*` part with that Content-ID, up to
//! [`MAX_INLINE_IMAGE`] bytes) become `data:` URLs before sanitizing, so they show.
//!
//! # Attachments
//! Attachments are numbered from 0 in the order mail-parser lists them; the same
//! numbering serves the list and the download.

use std::borrow::Cow;
use std::sync::LazyLock;

use coffer_extract::message_parser;
use coffer_ingest::parse::{read_mailbox, subject_of};
use mail_parser::{Address, MimeHeaders};
use serde::Serialize;

/// A participant as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct AddressView {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Address.
    pub(crate) email: String,
}

/// An attachment as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct AttachmentView {
    /// Position, for `/attachments/{n}`.
    pub(crate) index: usize,
    /// File name, if any.
    pub(crate) filename: Option<String>,
    /// MIME type.
    pub(crate) content_type: String,
    /// Decoded size in bytes.
    pub(crate) size: usize,
}

/// What the bytes say.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    pub(crate) from: Vec<AddressView>,
    pub(crate) to: Vec<AddressView>,
    pub(crate) cc: Vec<AddressView>,
    pub(crate) bcc: Vec<AddressView>,
    pub(crate) subject: Option<String>,
    pub(crate) message_id: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
    pub(crate) attachments: Vec<AttachmentView>,
}

fn addresses(address: Option<&Address<'_>>) -> Vec<AddressView> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| {
                    let (name, email) = read_mailbox(addr)?;
                    Some(AddressView { name, email })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn terminated(raw: &[u8]) -> Cow<'_, [u8]> {
    // mail-parser drops a last header line without a line ending (as ingest does).
    if raw.ends_with(b"\n") {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned([raw, b"\r\n"].concat())
    }
}

fn content_type_of(part: &mail_parser::MessagePart<'_>) -> String {
    let ct = part.content_type();
    let value = match ct {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        },
        None => "application/octet-stream".to_string(),
    }
    .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match value.split_once('/') {
        Some((a, b)) if token(a) && token(b) => value,
        _ => "application/octet-stream".to_string(),
    }
}

/// Parses and renders a message. Never fails: unparseable bytes render empty (the
/// `malformed` flag and the raw download remain).
pub(crate) fn render(raw: &[u8]) -> Rendered {
    let input = terminated(raw);
    let Some(message) = message_parser().parse(input.as_ref()) else {
        return Rendered::default();
    };
    let attachments = message
        .attachments()
        .enumerate()
        .map(|(index, part)| AttachmentView {
            index,
            filename: part.attachment_name().map(str::to_string),
            content_type: content_type_of(part),
            size: part.len(),
        })
        .collect();
    let text = (0..message.text_body_count())
        .filter_map(|i| message.body_text(i))
        .map(|t| t.into_owned())
        .reduce(|a, b| format!("{a}\n\n{b}"));
    // mail-parser lists text parts among the HTML bodies of a text-only message; only
    // a real text/html part is shown as HTML.
    let html = message
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(|html| sanitize_html(&resolve_inline_images(&message, html)));
    Rendered {
        from: addresses(message.from()),
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        bcc: addresses(message.bcc()),
        subject: subject_of(&message),
        message_id: message.message_id().map(str::to_string),
        text,
        html,
        attachments,
    }
}

/// Largest inline image turned into a `data:` URL (bigger ones are not shown).
const MAX_INLINE_IMAGE: usize = 2 * 1024 * 1024;

/// `html` with each `cid:ID` that names an image part of `message` replaced by that
/// image as a `data:` URL.
fn resolve_inline_images(message: &mail_parser::Message<'_>, html: &str) -> String {
    use base64::Engine;
    let mut resolved = html.to_string();
    for part in &message.parts {
        let Some(id) = part.content_id() else {
            continue;
        };
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let content_type = content_type_of(part);
        let reference = format!("cid:{id}");
        if id.is_empty()
            || !content_type.starts_with("image/")
            || part.contents().len() > MAX_INLINE_IMAGE
            || !resolved.contains(&reference)
        {
            continue;
        }
        let data = format!(
            "data:{content_type};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(part.contents())
        );
        resolved = resolved.replace(&reference, &data);
    }
    resolved
}

/// Attachment `n`: file name, content type and decoded bytes.
pub(crate) fn attachment(raw: &[u8], n: usize) -> Option<(Option<String>, String, Vec<u8>)> {
    let input = terminated(raw);
    let message = message_parser().parse(input.as_ref())?;
    let part = message.attachments().nth(n)?;
    Some((
        part.attachment_name().map(str::to_string),
        content_type_of(part),
        part.contents().to_vec(),
    ))
}

/// Attributes that load something when the message is displayed.
const LOADING_ATTRIBUTES: [&str; 8] = [
    "src",
    "srcset",
    "background",
    "poster",
    "lowsrc",
    "dynsrc",
    "longdesc",
    "data",
];

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_url_schemes(["data"])
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|_element, attribute, value| {
            let lower = value.trim().to_ascii_lowercase();
            if LOADING_ATTRIBUTES.contains(&attribute) {
                // Only inline images: nothing is fetched from anywhere.
                return (attribute != "srcset" && lower.starts_with("data:image/"))
                    .then(|| value.into());
            }
            if lower.starts_with("data:") {
                return None;
            }
            Some(value.into())
        });
    builder
});

/// Sanitizes an HTML body with remote content blocked (see the module docs).
pub(crate) fn sanitize_html(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_loses_scripts_and_remote_content() {
        let dirty = r#"<p onclick="x()">Hi<script>alert(1)</script>
            <img src="https://tracker.example/p.gif" width="1">
            <img src="/api/v1/session">
            <img srcset="https://a.example/x.png 2x">
            <img src="data:image/png;base64,iVBORw0KGgo=">
            <a href="https://example.org/x">link</a> <a href="data:text/html,boom">bad</a>
            <div style="background:url(https://tracker.example/bg.png)">s</div>
            <table background="https://tracker.example/t.png"><tr><td>t</td></tr></table>
            <style>body{background:url(https://tracker.example/s.png)}</style></p>"#;
        let clean = sanitize_html(dirty);
        for gone in [
            "script",
            "onclick",
            "tracker.example",
            "/api/v1/session",
            "a.example",
            "style",
            "data:text",
        ] {
            assert!(!clean.contains(gone), "{gone} survived in {clean}");
        }
        assert!(clean.contains("data:image/png;base64"), "{clean}");
        assert!(clean.contains(r#"href="https://example.org/x""#), "{clean}");
        assert!(clean.contains("noopener noreferrer nofollow"), "{clean}");
    }

    #[test]
    fn renders_headers_bodies_and_attachments() {
        let raw = b"From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let r = render(raw);
        assert_eq!(r.from[0].email, "ann@example.com");
        assert_eq!(r.subject.as_deref(), Some("Hi"));
        assert_eq!(r.text.as_deref().map(str::trim), Some("hello"));
        assert_eq!(r.attachments.len(), 1);
        assert_eq!(r.attachments[0].content_type, "application/pdf");
        let (name, ct, bytes) = attachment(raw, 0).expect("attachment");
        assert_eq!(
            (name.as_deref(), ct.as_str(), bytes.as_slice()),
            (Some("a.pdf"), "application/pdf", &b"%PDF-"[..])
        );
        assert!(attachment(raw, 1).is_none());
        assert!(render(b"\x00\x01garbage").from.is_empty());
    }

    #[test]
    fn inline_images_show_and_nothing_else_loads() {
        let raw = b"From: a@example.com\r\nSubject: logo\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n\
<p><img src=\"cid:logo@x\"><img src=\"cid:missing@x\"><img src=\"cid:page@x\"></p>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgo=\r\n--r\r\nContent-Type: text/html\r\nContent-ID: <page@x>\r\n\r\n<script>x</script>\r\n--r--\r\n";
        let html = render(raw).html.expect("html");
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw0KGgo=\""),
            "{html}"
        );
        assert!(
            !html.contains("cid:"),
            "unresolved references are dropped: {html}"
        );
        assert!(
            !html.contains("text/html") && !html.contains("script"),
            "{html}"
        );
    }

    /// The view reads messages as indexing does: a pipermail-style From and undeclared
    /// 8-bit text show what search found them by.
    #[test]
    fn renders_spelled_out_addresses_and_undeclared_8bit_text_as_indexed() {
        let r =
            render(b"From: ann at example.com (Ann Lee)\r\nSubject: na\xefve\r\n\r\ncaf\xe9\r\n");
        assert_eq!(r.subject.as_deref(), Some("naïve"));
        assert_eq!(r.from.len(), 1);
        assert_eq!(r.from[0].email, "ann@example.com");
        assert_eq!(r.from[0].name.as_deref(), Some("Ann Lee"));
        assert_eq!(r.text.as_deref().map(str::trim), Some("café"));
    }
}
