//! Other people's words inside Rateline's own messages (a client's comment and name in an
//! alert, in a digest, in a note for agents): escaped for where they are shown, and quoted,
//! so they never pass for Rateline's words, never ping a channel and never make a link
//! that hides where it goes.
//!
//! - [`chat`]: for an alert webhook's `text`, which Slack reads as its own markup and
//!   Mattermost and Teams as Markdown. Slack asks senders to escape `&`, `<` and `>`
//!   (`<!channel>` pings everyone, `<https://x|label>` is a link whose label hides its
//!   address); CommonMark, which Mattermost and Teams render, shows those entities as the
//!   characters. Markdown's links (`[label](url)`, `[label][1]` with `[1]: url`) are broken
//!   by a word joiner after each `]`, and Mattermost's mentions (`@channel`, `@all`, a user's
//!   name: `@` then a letter or digit) by one after each `@`: invisible, and the text reads
//!   as it was written.
//! - [`markdown`]: for a note in a helpdesk that renders Markdown (Chatwoot): every ASCII
//!   punctuation character is backslash-escaped, as CommonMark allows, so nothing the client
//!   wrote is markup (Chatwoot's mentions are Markdown links too).
//! - [`quoted`]: every line of a text behind `> `, the quote mark of e-mail, Slack and
//!   Markdown: a comment that writes "Session: https://…" or "Rateline: …" on a line of its
//!   own shows as part of the quote. A quote is always the last part of a message, so
//!   Markdown's lazy continuation cannot pull Rateline's next line into it.

/// U+2060 WORD JOINER: no width, no break, and not a letter, digit or punctuation.
const JOINER: char = '\u{2060}';

/// `text` for a chat's incoming webhook (Slack, Mattermost, Teams); see the module's docs.
pub fn chat(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            ']' => {
                out.push(']');
                out.push(JOINER);
            }
            '@' => {
                out.push('@');
                if chars.peek().is_some_and(|n| n.is_alphanumeric()) {
                    out.push(JOINER);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `text` for a helpdesk note rendered as Markdown (Chatwoot): every ASCII punctuation
/// character backslash-escaped.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` quoted: each line behind `> ` (an empty text is one empty quoted line). Line ends
/// of any kind (`\r\n`, `\r`, U+2028 and U+2029, which some clients render as breaks) start
/// a new quoted line.
pub fn quoted(text: &str) -> String {
    text.replace("\r\n", "\n")
        .split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .map(|line| format!("> {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_controls_mentions_and_links_come_out_inert() {
        let said = chat(
            "<!channel> see <https://phish.example|Open the session in Rateline> & \
             [Open](https://phish.example) [x][1]\n[1]: https://phish.example @channel @all a@b x@ y",
        );
        for control in ["<!", "<https", "](", "][", "]:", "@channel", "@all", "@b"] {
            assert!(!said.contains(control), "{control} in {said}");
        }
        assert!(said.contains("&lt;!channel&gt;"), "{said}");
        assert!(said.contains(" &amp; "), "{said}");
        assert!(
            said.ends_with("x@ y"),
            "an @ before nothing is left as it is: {said}"
        );
        // With the joiners taken out it reads as written (entities aside).
        let read: String = said.chars().filter(|c| *c != JOINER).collect();
        assert!(read.contains("@channel @all"), "{read}");
    }

    #[test]
    fn markdown_punctuation_is_escaped() {
        assert_eq!(
            markdown("[Open](https://x) *a* @[Ann](mention://user/1/Ann) é"),
            "\\[Open\\]\\(https\\:\\/\\/x\\) \\*a\\* \\@\\[Ann\\]\\(mention\\:\\/\\/user\\/1\\/Ann\\) é"
        );
    }

    #[test]
    fn every_line_of_a_quote_is_marked() {
        assert_eq!(quoted("slow"), "> slow");
        assert_eq!(
            quoted("slow\nRateline: the client rated 5\r\nSession: x\u{2028}y"),
            "> slow\n> Rateline: the client rated 5\n> Session: x\n> y"
        );
        assert_eq!(quoted("a\n\nb"), "> a\n> \n> b");
        assert_eq!(quoted(""), "> ");
    }
}
