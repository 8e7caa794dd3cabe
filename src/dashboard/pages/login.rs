//! The sign-in page, the invitation's password page, and the offer to send again a form
//! that was sent after the sign-in had ended.

use maud::{Markup, html};

use crate::dashboard::layout::{field_problem, page};
use crate::dashboard::viewer::Viewer;

/// Which sign-in form was just sent, so its field can show what was wrong.
pub enum Tried {
    Nothing,
    /// A person's id and password; the id is shown again.
    Person {
        id: String,
    },
    Key,
}

/// A form that was sent when its sign-in had ended: where it went and what it said, but
/// never a password, a secret or a key. The sign-in page carries it, and after signing in
/// the person is asked to send it again ([`resend`]).
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// What a kept field's name starts with on the sign-in form.
pub const KEPT: &str = "kept:";

impl Kept {
    /// Whether a field may be kept: none that holds a credential.
    pub fn may_keep(name: &str) -> bool {
        !["password", "secret", "key", "current", "repeat", "token"]
            .iter()
            .any(|w| name.contains(w))
    }

    /// Its fields as the hidden inputs of the sign-in form.
    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="kept_action" value=(self.action);
            @for (name, value) in &self.fields {
                input type="hidden" name={ (KEPT) (name) } value=(value);
            }
        }
    }
}

/// After signing in: the form that was not sent, offered to be sent now, or left.
pub fn resend(kept: &Kept, next: &str) -> Markup {
    page(
        "Send it now?",
        &Viewer::default(),
        html! {
            form.stacked method="post" action=(kept.action) aria-label="Send it now" {
                p { "Your sign-in had ended when you sent this, so it was not saved or sent. "
                    "You are signed in again: send it now, as you wrote it?" }
                @for (name, value) in &kept.fields {
                    input type="hidden" name=(name) value=(value);
                }
                @if let Some((_, text)) = kept.fields.iter().find(|(n, _)| n == "text") {
                    blockquote.kept { (text) }
                }
                button type="submit" #send-kept { "Send it now" }
                " "
                a href=(next) #leave-kept { "Leave it" }
            }
        },
    )
}

/// The sign-in page: a person's id and password, or (for programs' keys) an API key.
/// `next` is where to go after signing in, and `kept` the form that was sent when the
/// sign-in had ended; a problem stands next to the field it is about.
pub fn login(problem: Option<&str>, tried: &Tried, next: &str, kept: Option<&Kept>) -> Markup {
    let (person_problem, key_problem) = match tried {
        Tried::Key => (None, problem),
        _ => (problem, None),
    };
    let id = match tried {
        Tried::Person { id } => id.as_str(),
        _ => "",
    };
    page(
        "Sign in",
        &Viewer::default(),
        html! {
            @if kept.is_some() {
                p.notice #kept role="status" { "Your sign-in had ended, so what you sent was not saved or sent. Sign in, and you can send it again." }
            }
            form.stacked method="post" action="/dashboard/login" aria-label="Sign in" {
                input type="hidden" name="next" value=(next);
                @if let Some(k) = kept { (k.hidden()) }
                label for="person" { "Your id" }
                input type="text" name="person" id="person" value=(id) autocomplete="username"
                    required autocapitalize="none" spellcheck="false";
                label for="password" { "Password" }
                input type="password" name="password" id="password"
                    autocomplete="current-password" required
                    aria-describedby=[person_problem.map(|_| "password-problem")]
                    aria-invalid=[person_problem.map(|_| "true")];
                (field_problem("password", person_problem))
                button type="submit" { "Sign in" }
                p.muted { "No password yet? An admin makes you an invitation link." }
            }
            details open[key_problem.is_some()] {
                summary { "Sign in with an API key" }
                form.stacked method="post" action="/dashboard/login" aria-label="Sign in with an API key" {
                    input type="hidden" name="next" value=(next);
                    @if let Some(k) = kept { (k.hidden()) }
                    label for="key" { "API key" }
                    input type="password" name="key" id="key" autocomplete="off" required
                        aria-describedby=[key_problem.map(|_| "key-problem")]
                        aria-invalid=[key_problem.map(|_| "true")];
                    (field_problem("key", key_problem))
                    button type="submit" { "Sign in with the key" }
                }
            }
        },
    )
}

/// The page where an invited person sets their password; `invalid` is what was wrong with
/// the last try, shown next to its field.
pub fn invitation(
    person_id: &str,
    name: &str,
    token: &str,
    invalid: Option<&rateline_domain::Invalid>,
) -> Markup {
    let problem = |field: &str| {
        invalid
            .filter(|i| i.field == field)
            .map(|i| format!("The {field} {}.", i.message))
    };
    let (password, repeat) = (problem("password"), problem("repeat"));
    page(
        "Set your password",
        &Viewer::default(),
        html! {
            p { "Welcome, " (name) ". Set a password to sign in to Rateline. Your id is "
                strong { (person_id) } "." }
            form.stacked method="post" action="/dashboard/invitation" aria-label="Set your password" {
                input type="hidden" name="token" value=(token);
                input type="hidden" name="person" value=(person_id) autocomplete="username";
                label for="password" { "New password" }
                input type="password" name="password" id="password" autocomplete="new-password"
                    required minlength=(crate::engine::MIN_PASSWORD_CHARS)
                    aria-describedby={ "password-hint" @if password.is_some() { " password-problem" } }
                    aria-invalid=[password.as_ref().map(|_| "true")];
                span.muted id="password-hint" {
                    "At least " (crate::engine::MIN_PASSWORD_CHARS) " characters. A few unrelated words make a good one."
                }
                (field_problem("password", password.as_deref()))
                label for="repeat" { "The same password again" }
                input type="password" name="repeat" id="repeat" autocomplete="new-password" required
                    aria-describedby=[repeat.as_ref().map(|_| "repeat-problem")]
                    aria-invalid=[repeat.as_ref().map(|_| "true")];
                (field_problem("repeat", repeat.as_deref()))
                button type="submit" { "Set the password and sign in" }
            }
        },
    )
}
