//! Fuzz target: the mbox splitter, with every flavour and separator rule and a small cap.
#![no_main]

use coffer_ingest::import::{MboxFlavor, MboxOptions, MboxReader, SeparatorRule};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let options = MboxOptions {
        flavor: [MboxFlavor::Mboxrd, MboxFlavor::Mboxo, MboxFlavor::Raw][usize::from(selector % 3)],
        separator: [
            SeparatorRule::Strict,
            SeparatorRule::BlankLine,
            SeparatorRule::AnyFromLine,
        ][usize::from(selector / 3 % 3)],
        max_message_bytes: 1 + u64::from(selector) * 16,
    };
    for item in MboxReader::new(input, options) {
        if let Ok(message) = item {
            assert!(message.raw.len() as u64 <= options.max_message_bytes);
            let _ = message.from_line.date();
        }
    }
});
