//! Attached e-mail messages (`message/rfc822`): the headers a reader sees (subject,
//! from, to, cc, date), the body text (HTML bodies converted), then every attachment,
//! extracted by its own type one level deeper, so a forwarded message's PDF is found too.

use mail_parser::{Address, Message, MimeHeaders};

use super::detect::Hint;
use super::{Ctx, ExtractError, Format};

/// Extracts an attached message at `depth`.
pub(super) fn extract(ctx: &mut Ctx, data: &[u8], depth: u32) -> Result<(), ExtractError> {
    let message = super::message_parser()
        .parse(data)
        .ok_or(ExtractError::Malformed {
            format: Format::Message,
            reason: "not a parseable message",
        })?;
    write_message(ctx, &message, depth)
}

fn write_message(ctx: &mut Ctx, message: &Message<'_>, depth: u32) -> Result<(), ExtractError> {
    ctx.sink.newline();
    if let Some(subject) = message.subject() {
        header(ctx, "Subject", subject);
    }
    for (name, address) in [
        ("From", message.from()),
        ("To", message.to()),
        ("Cc", message.cc()),
    ] {
        if let Some(address) = address {
            header(ctx, name, &addresses(address));
        }
    }
    if let Some(date) = message.date() {
        header(ctx, "Date", &date.to_rfc3339());
    }
    ctx.sink.newline();
    for index in 0..message.text_body_count() {
        if ctx.done() {
            return Ok(());
        }
        if let Some(body) = message.body_text(index) {
            ctx.sink.push(&body);
            ctx.sink.newline();
        }
    }
    let child_depth = depth.saturating_add(1);
    for part in message.attachments() {
        ctx.check_deadline(Format::Message)?;
        if ctx.done() {
            return Ok(());
        }
        let name = part.attachment_name();
        if let Some(name) = name {
            ctx.sink.newline();
            ctx.sink.push(name);
            ctx.sink.newline();
        }
        if child_depth > ctx.limits.max_depth {
            ctx.skipped_parts = ctx.skipped_parts.saturating_add(1);
            continue;
        }
        if let Some(nested) = part.message() {
            write_message(ctx, nested, child_depth)?;
            continue;
        }
        let content_type = part.content_type().map_or_else(String::new, |ct| {
            let mut value = match ct.subtype() {
                Some(subtype) => format!("{}/{}", ct.ctype(), subtype),
                None => ct.ctype().to_owned(),
            };
            // mail-parser has already decoded text parts to UTF-8; their declared charset
            // no longer applies to `contents()`.
            if let Some(charset) = ct
                .attribute("charset")
                .filter(|_| part.text_contents().is_none())
            {
                value.push_str("; charset=");
                value.push_str(charset);
            }
            value
        });
        let hint = Hint::new(&content_type, name);
        ctx.nested(&hint, part.contents(), child_depth)?;
    }
    Ok(())
}

fn header(ctx: &mut Ctx, name: &str, value: &str) {
    ctx.sink.push(name);
    ctx.sink.push(": ");
    ctx.sink.push(value);
    ctx.sink.newline();
}

fn addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (Some(name), None) => name.to_owned(),
            (None, Some(email)) => email.to_owned(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}
