//! Rules for text people type that other people read: names and descriptions, on every
//! page and in the JSON API. Control characters would break lines and logs; the bidi
//! controls reorder what surrounds them, so "rm" could be shown where "mr" was typed, or a
//! flash message read backwards.

/// What makes a piece of text unfit to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// C0 and C1 controls: line breaks, tabs, escapes.
    Control,
    /// The bidi embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069)
    /// and the Arabic letter mark (U+061C).
    Bidi,
}

impl Hidden {
    /// The end of the sentence refusing it: "The description " + this.
    pub fn why(self) -> &'static str {
        match self {
            Hidden::Control => "cannot hold control characters such as line breaks.",
            Hidden::Bidi => "cannot hold characters that change the direction of the text around them (bidi controls).",
        }
    }
}

/// Why `text` is refused, if it is. The plain direction marks (U+200E, U+200F) and the
/// zero-width joiner of emoji sequences stay allowed.
pub fn hidden_controls(text: &str) -> Option<Hidden> {
    if text.chars().any(char::is_control) {
        return Some(Hidden::Control);
    }
    if text.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')) {
        return Some(Hidden::Bidi);
    }
    None
}

/// `text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE: the plain-text `<bdi>`,
/// for user text inside a sentence Berth writes (a flash message, an activity detail), so
/// right-to-left text cannot reorder the words around it.
pub fn isolated(text: &str) -> String {
    format!("\u{2068}{text}\u{2069}")
}

/// A wait in words: "1 minute", "15 minutes", "2 hours" (rounded up below an hour).
pub fn duration(secs: u64) -> String {
    let (n, unit) = match secs {
        0..=59 => (secs, "second"),
        60..=3599 => (secs.div_ceil(60).clamp(1, 59), "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    let n = n.max(1);
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// A LIKE pattern matching any text that contains `text` as typed: its wildcards and the
/// escape character are escaped (use it with `.escape('\\')`).
pub fn like_containing(text: &str) -> String {
    format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_refused_marks_and_emoji_stay() {
        for bad in ["a\nb", "a\u{7}b", "a\u{85}b", "\u{202E}gnp.exe", "a\u{202A}b", "a\u{2066}b", "a\u{2069}", "\u{061C}x"] {
            assert!(hidden_controls(bad).is_some(), "{bad:?}");
        }
        for good in ["ci on build-01", "שלום\u{200F} ci", "left\u{200E}right", "👩\u{200D}💻 laptop", "ünïcödé 日本"] {
            assert_eq!(hidden_controls(good), None, "{good:?}");
        }
    }
}
