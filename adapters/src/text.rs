//! Text replies as answers, for channels without buttons or clients who type instead of tap.
//!
//! Accepted forms: on a binary line "1"/"0", "👍"/"👎" (any skin tone); on a five-star line a
//! digit 1–5, optionally followed by stars ("5", "4★", "⭐⭐⭐"). Anything else is not an
//! answer and is left to the conversation.

use crate::Scale;

/// Reads a client's text as an answer on `scale`, or `None` when it is not one.
pub fn parse_text_answer(scale: Scale, text: &str) -> Option<i64> {
    let t = text.trim();
    match scale {
        Scale::Binary => {
            // Thumbs may carry a skin-tone modifier and a variation selector.
            let base: String = t
                .chars()
                .filter(|c| !matches!(*c as u32, 0x1F3FB..=0x1F3FF | 0xFE0F))
                .collect();
            match base.as_str() {
                "1" | "👍" => Some(1),
                "0" | "👎" => Some(0),
                _ => None,
            }
        }
        Scale::FiveStar => {
            let stars = t.chars().filter(|c| matches!(c, '★' | '⭐')).count();
            let rest: String = t
                .chars()
                .filter(|c| !matches!(c, '★' | '⭐' | '\u{FE0F}') && !c.is_whitespace())
                .collect();
            let value = match (rest.as_str(), stars) {
                ("", n) => n as i64,
                (digit, _) => digit.parse::<i64>().ok()?,
            };
            scale.allowed().contains(&value).then_some(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_replies_are_read() {
        for (text, want) in [
            ("1", Some(1)),
            (" 0 ", Some(0)),
            ("👍", Some(1)),
            ("👎🏽", Some(0)),
            ("👍️", Some(1)),
        ] {
            assert_eq!(parse_text_answer(Scale::Binary, text), want, "{text:?}");
        }
    }

    #[test]
    fn binary_does_not_take_other_numbers_or_words() {
        for text in ["2", "5", "yes", "", "10", "1 0"] {
            assert_eq!(parse_text_answer(Scale::Binary, text), None, "{text:?}");
        }
    }

    #[test]
    fn five_star_replies_are_read() {
        for (text, want) in [
            ("5", Some(5)),
            ("1", Some(1)),
            ("4★", Some(4)),
            ("⭐⭐⭐", Some(3)),
            ("★★★★★", Some(5)),
        ] {
            assert_eq!(parse_text_answer(Scale::FiveStar, text), want, "{text:?}");
        }
    }

    #[test]
    fn five_star_refuses_out_of_range_and_prose() {
        for text in ["0", "6", "55", "great", "", "⭐⭐⭐⭐⭐⭐", "👍"] {
            assert_eq!(parse_text_answer(Scale::FiveStar, text), None, "{text:?}");
        }
    }
}
