//! Who is looking at a dashboard page and how they see it: their name and links in the
//! header, the unanswered count, their time zone, and the names of the people and lines a
//! page knows by id.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

/// Who is looking at a page and how they see it: the header (their name with a sign-out
/// button, the unanswered low ratings within their reach), their time zone, and the names
/// of the people and lines a page knows by id.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The signed-in person's name, or the key's; `None` in the open mode and on the pages
    /// before signing in.
    pub who: Option<String>,
    /// Whether to show the links to the pages (not before signing in).
    pub links: bool,
    /// Unanswered low ratings within reach (`None` when they could not be counted).
    pub unanswered: Option<i64>,
    /// The person signed in: their name in the header links their account page.
    pub me: Option<String>,
    /// An operator's own id: their profile is in the header.
    pub operator: Option<String>,
    /// Admins see the people page in the header.
    pub admin: bool,
    /// Times are shown, and dates read, in this zone.
    pub zone: chrono_tz::Tz,
    pub directory: std::sync::Arc<crate::store::Directory>,
}

impl Default for Viewer {
    /// Before signing in: no name, no links, UTC.
    fn default() -> Self {
        Self {
            who: None,
            links: false,
            unanswered: None,
            me: None,
            operator: None,
            admin: false,
            zone: chrono_tz::UTC,
            directory: std::sync::Arc::default(),
        }
    }
}

impl Viewer {
    /// A time as the viewer reads it: in their zone, with the zone's abbreviation.
    pub fn at(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// A `<time>` element: the viewer's reading, with the exact instant for machines.
    pub fn time(&self, t: DateTime<Utc>) -> Markup {
        html! { time datetime=(t.to_rfc3339()) { (self.at(t)) } }
    }

    /// A person by name, the id on hover; the id alone when no person has it.
    pub fn person(&self, id: &str) -> Markup {
        named(self.directory.people.get(id).map(|(name, _)| name), id)
    }

    /// A line by name, the id on hover.
    pub fn line(&self, id: &str) -> Markup {
        named(self.directory.lines.get(id), id)
    }

    /// The lines `keep` lets through, as (id, name), by id: for the filters' choice of line.
    pub fn lines(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = self
            .directory
            .lines
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(id, name)| (id.clone(), name.clone()))
            .collect();
        lines.sort();
        lines
    }

    /// Who did something as a record keeps it: a person's id, or `key <id>`.
    pub fn actor(&self, recorded: &str) -> Markup {
        match recorded.strip_prefix("key ") {
            Some(key) => html! { "key " code { (key) } },
            None => self.person(recorded),
        }
    }

    /// Midnight starting `day` in the viewer's zone (the zone's first instant of that day
    /// where summer time skips midnight).
    pub fn midnight(&self, day: chrono::NaiveDate) -> DateTime<Utc> {
        use chrono::TimeZone;
        let local = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        match self.zone.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            chrono::LocalResult::None => self
                .zone
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
                .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc)),
        }
    }
}

fn named(name: Option<&String>, id: &str) -> Markup {
    match name {
        Some(name) if name != id => html! { span title=(id) { (name) } },
        _ => html! { code { (id) } },
    }
}
