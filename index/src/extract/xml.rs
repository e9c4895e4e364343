//! A small streaming layer over `quick-xml` for the office formats: local element
//! names, text with the predefined and numeric entities resolved, a deadline check,
//! and nothing else. No DTD is read and no custom entity is expanded, so entity bombs
//! have nothing to expand.

use std::borrow::Cow;
use std::io::BufRead;
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
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    let mut buf = Vec::new();
    let mut events = 0u32;
    loop {
        events = events.wrapping_add(1);
        if events.is_multiple_of(DEADLINE_EVERY) && Instant::now() >= deadline {
            return Err(XmlStop::Deadline);
        }
        buf.clear();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|_| XmlStop::Malformed)?;
        let go_on = match &event {
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
            Event::Eof => return Ok(()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => true,
        };
        if !go_on {
            return Ok(());
        }
    }
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
            (key_local == name).then(|| {
                match attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                    Ok(value) => Cow::Owned(value.into_owned()),
                    Err(_) => Cow::Owned(attribute.value.into_owned()),
                }
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
