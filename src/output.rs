//! Text for the terminal, and the engine's stdout and file helpers the commands use.

pub use keepnet_export_core::output::{safe_file_name, stdout_result, to_stdout, write_atomically};

/// Text for a terminal: control characters (escape sequences, bell, backspace...) shown as
/// `\u{1b}` instead of being obeyed; newlines and tabs kept. Company names and server
/// messages come from outside and must not rewrite the screen.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t') || keepnet_sink::safety::is_bidi_control(c)
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(super::printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(super::printable("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(super::printable("c\u{9b}d"), "c\\u{9b}d");
        assert_eq!(
            super::printable("Evil\u{202e}xcod.csv"),
            "Evil\\u{202e}xcod.csv"
        );
    }
}
