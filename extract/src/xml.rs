//! A small layer over `quick-xml` for the office formats (in memory, or streamed when a
//! part is large): local element names, text with the predefined and numeric entities
//! resolved, a deadline check, and nothing else. No DTD is read and no custom entity is
//! expanded, so entity bombs have nothing to expand.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::time::Instant;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// What the format handlers see.
pub(super) enum XmlEvent<'a> {
    /// A start tag (also reported for empty elements, followed by [`XmlEvent::Close`]).
    Open(&'a BytesStart<'a>),
    /// An end tag, by local name.
    Close(&'a str),
    /// Character data (text, CDATA or a resolved entity).
    Text(&'a str),
}

/// Why a walk stopped early.
#[derive(Debug)]
pub(super) enum XmlStop {
    /// The deadline passed.
    Deadline,
    /// The document is not well-formed, or the underlying reader failed (the caller
    /// tells a byte-budget failure apart through the budget).
    Malformed,
}

/// How often (in events) the deadline is checked.
const DEADLINE_EVERY: u32 = 1024;

/// Streams the events of `source` to `on_event` until the end, until `on_event` returns
/// false, or until an error.
pub(super) fn walk<R: BufRead>(
    source: R,
    deadline: Instant,
    mut on_event: impl FnMut(XmlEvent<'_>) -> bool,
) -> Result<(), XmlStop> {
    let mut reader = Reader::from_reader(source);
    configure(&mut reader);
    let mut buf = Vec::new();
    let mut events = 0u32;
    loop {
        check_deadline(&mut events, deadline)?;
        buf.clear();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|_| XmlStop::Malformed)?;
        match dispatch(&event, &mut on_event) {
            Flow::Next => {}
            Flow::Stop => return Ok(()),
        }
    }
}

/// Largest document [`walk_read`] parses in memory; a larger one is streamed.
pub(super) const IN_MEMORY_BYTES: usize = 8 * 1024 * 1024;

/// Walks the document `source` yields: in memory ([`walk_slice`], faster) when it is at
/// most `in_memory` bytes, which nearly every office part is; streamed ([`walk`]) when it
/// is larger or its container understated its size (`declared`), so memory stays bounded
/// whatever the container says. A read error is [`XmlStop::Malformed`].
pub(super) fn walk_read<R: Read>(
    mut source: R,
    declared: u64,
    in_memory: usize,
    deadline: Instant,
    on_event: impl FnMut(XmlEvent<'_>) -> bool,
) -> Result<(), XmlStop> {
    let mut head =
        Vec::with_capacity(usize::try_from(declared).map_or(in_memory, |d| d.min(in_memory)));
    let limit = u64::try_from(in_memory)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if (&mut source).take(limit).read_to_end(&mut head).is_err() {
        // A corrupt or over-budget part: the events of what was read come first, as when
        // streaming, so the text before the damage is kept.
        walk_slice(&head, deadline, on_event)?;
        return Err(XmlStop::Malformed);
    }
    if head.len() <= in_memory {
        walk_slice(&head, deadline, on_event)
    } else {
        walk(
            BufReader::new(Cursor::new(head).chain(source)),
            deadline,
            on_event,
        )
    }
}

/// [`walk`] over a document already in memory: the events borrow from `source`, so
/// nothing is copied into an event buffer.
pub(super) fn walk_slice(
    source: &[u8],
    deadline: Instant,
    mut on_event: impl FnMut(XmlEvent<'_>) -> bool,
) -> Result<(), XmlStop> {
    let mut reader = Reader::from_reader(source);
    configure(&mut reader);
    let mut events = 0u32;
    loop {
        check_deadline(&mut events, deadline)?;
        let event = reader.read_event().map_err(|_| XmlStop::Malformed)?;
        match dispatch(&event, &mut on_event) {
            Flow::Next => {}
            Flow::Stop => return Ok(()),
        }
    }
}

fn configure<R>(reader: &mut Reader<R>) {
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
}

fn check_deadline(events: &mut u32, deadline: Instant) -> Result<(), XmlStop> {
    *events = events.wrapping_add(1);
    if events.is_multiple_of(DEADLINE_EVERY) && Instant::now() >= deadline {
        return Err(XmlStop::Deadline);
    }
    Ok(())
}

enum Flow {
    Next,
    Stop,
}

/// Hands one parsed event to `on_event`; [`Flow::Stop`] at the end of the document or
/// when `on_event` says so.
fn dispatch(event: &Event<'_>, on_event: &mut impl FnMut(XmlEvent<'_>) -> bool) -> Flow {
    let go_on = match event {
        Event::Start(start) => on_event(XmlEvent::Open(start)),
        Event::Empty(start) => {
            on_event(XmlEvent::Open(start)) && on_event(XmlEvent::Close(local(start)))
        }
        Event::End(end) => {
            let name = end.local_name();
            on_event(XmlEvent::Close(name.as_ref()))
        }
        Event::Text(text) => on_event(XmlEvent::Text(&text.xml10_content())),
        Event::CData(data) => on_event(XmlEvent::Text(&data.xml10_content())),
        Event::GeneralRef(reference) => match resolve_entity(reference) {
            Some(resolved) => on_event(XmlEvent::Text(&resolved)),
            None => true,
        },
        Event::Eof => return Flow::Stop,
        Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => true,
    };
    if go_on { Flow::Next } else { Flow::Stop }
}

/// The local name (without prefix) of a start tag.
pub(super) fn local<'a>(start: &'a BytesStart<'_>) -> &'a str {
    let name = start.name().into_inner();
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

/// The value of the attribute with local name `name`, unescaped.
pub(super) fn attribute<'a>(start: &'a BytesStart<'_>, name: &str) -> Option<Cow<'a, str>> {
    start
        .attributes()
        .with_checks(false)
        .flatten()
        .find_map(|attribute| {
            let key = attribute.key.into_inner();
            let key_local = key.rsplit_once(':').map_or(key, |(_, local)| local);
            (key_local == name).then(|| match attribute.value {
                // Nothing to normalize (no reference, no tab or line break): borrow.
                Cow::Borrowed(raw) if !raw.contains(['&', '\t', '\n', '\r']) => Cow::Borrowed(raw),
                _ => match attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                    Ok(value) => Cow::Owned(value.into_owned()),
                    Err(_) => Cow::Owned(attribute.value.into_owned()),
                },
            })
        })
}

fn resolve_entity(reference: &quick_xml::events::BytesRef<'_>) -> Option<Cow<'static, str>> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Some(Cow::Owned(c.to_string()));
    }
    let entity: &str = &reference.xml10_content();
    let resolved = match entity {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    };
    Some(Cow::Borrowed(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn collect(xml: &str) -> Result<String, XmlStop> {
        let mut out = String::new();
        walk(
            xml.as_bytes(),
            Instant::now() + Duration::from_secs(5),
            |event| {
                match event {
                    XmlEvent::Open(start) => out.push_str(&format!("<{}>", local(start))),
                    XmlEvent::Close(name) => out.push_str(&format!("</{name}>")),
                    XmlEvent::Text(text) => out.push_str(text),
                }
                true
            },
        )?;
        Ok(out)
    }

    #[test]
    fn local_names_entities_and_cdata() {
        let got = collect(
            r#"<?xml version="1.0"?><w:p xmlns:w="x"><w:t>AT&amp;T &#233;&#x263A; &bogus;</w:t><w:br/><![CDATA[<raw>]]></w:p>"#,
        )
        .expect("well-formed");
        assert_eq!(got, "<p><t>AT&T é☺ </t><br></br><raw></p>");
    }

    #[test]
    fn in_memory_and_streamed_walks_see_the_same_events() {
        let xml = r#"<?xml version="1.0"?><w:p xmlns:w="x"><w:t>AT&amp;T &#233;</w:t><w:br/><c t="s" r="A1"><v>7</v></c><![CDATA[<raw>]]></w:p>"#;
        let events = |in_memory: usize| {
            let mut out = Vec::new();
            walk_read(
                xml.as_bytes(),
                xml.len() as u64,
                in_memory,
                Instant::now() + Duration::from_secs(5),
                |event| {
                    out.push(match event {
                        XmlEvent::Open(start) => format!(
                            "<{} t={:?}>",
                            local(start),
                            attribute(start, "t").map(|t| t.into_owned())
                        ),
                        XmlEvent::Close(name) => format!("</{name}>"),
                        XmlEvent::Text(text) => text.to_owned(),
                    });
                    true
                },
            )
            .expect("well-formed");
            out
        };
        let in_memory = events(IN_MEMORY_BYTES);
        assert_eq!(
            in_memory,
            events(xml.len()),
            "exactly at the limit: in memory"
        );
        assert_eq!(in_memory, events(xml.len() - 1), "one byte over: streamed");
        assert_eq!(in_memory, events(16), "streamed from the first bytes");
        assert!(
            in_memory.contains(&"<c t=Some(\"s\")>".to_owned()),
            "{in_memory:?}"
        );
        assert_eq!(
            in_memory.concat().matches("AT&T é").count(),
            1,
            "{in_memory:?}"
        );
    }

    /// Yields `data` in 7-byte reads, then fails.
    struct Failing<'a> {
        data: &'a [u8],
    }

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.data.is_empty() {
                return Err(std::io::Error::other("corrupt deflate stream"));
            }
            let n = buf.len().min(7).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_part_that_fails_midway_keeps_the_text_before_the_damage() {
        let xml = b"<r><t>first paragraph</t><t>second</t><t>cut he";
        for in_memory in [IN_MEMORY_BYTES, 10] {
            let mut texts = Vec::new();
            let result = walk_read(
                Failing { data: xml },
                1_000,
                in_memory,
                Instant::now() + Duration::from_secs(5),
                |event| {
                    if let XmlEvent::Text(text) = event {
                        texts.push(text.to_owned());
                    }
                    true
                },
            );
            assert!(matches!(result, Err(XmlStop::Malformed)), "{in_memory}");
            assert_eq!(
                texts[..2],
                ["first paragraph".to_owned(), "second".to_owned()],
                "{in_memory}"
            );
        }
    }

    #[test]
    fn does_not_expand_custom_entities() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><r>&lol2;</r>"#;
        assert_eq!(collect(bomb).expect("parses"), "<r></r>");
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        assert!(collect("<a><b attr=\"x></a>").is_err() || collect("<a><b attr=\"x></a>").is_ok());
        let _ = collect("<<<<>>>>&&&");
        let _ = collect("\u{0}\u{1}");
    }

    #[test]
    fn attributes_by_local_name() {
        let xml = r#"<r><x r:id="rId7" name="A&amp;B"/></r>"#;
        let mut seen = Vec::new();
        walk(
            xml.as_bytes(),
            Instant::now() + Duration::from_secs(5),
            |event| {
                if let XmlEvent::Open(start) = event
                    && local(start) == "x"
                {
                    seen.push(attribute(start, "id").map(|v| v.into_owned()));
                    seen.push(attribute(start, "name").map(|v| v.into_owned()));
                    seen.push(attribute(start, "missing").map(|v| v.into_owned()));
                }
                true
            },
        )
        .expect("well-formed");
        assert_eq!(seen, vec![Some("rId7".into()), Some("A&B".into()), None]);
    }
}
