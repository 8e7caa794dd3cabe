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
    /// No credential exists yet: the page shows the open mode's banner.
    pub open_mode: bool,
    /// Whether to show the links to the pages (not before signing in).
    pub links: bool,
    /// Unanswered low ratings within reach (`None` when they could not be counted).
    pub unanswered: Option<i64>,
    /// Open appeals the viewer may decide (the header's count).
    pub appeals: Option<i64>,
    /// The person signed in: their name in the header links their account page.
    pub me: Option<String>,
    /// An operator's own id: their profile is in the header.
    pub operator: Option<String>,
    /// Admins see the people page in the header.
    pub admin: bool,
    /// Admins: event subscriptions failing now (`false`) or switched off (`true`), by id.
    pub events_trouble: Vec<(String, bool)>,
    /// Times are shown, and dates read, in this zone.
    pub zone: chrono_tz::Tz,
    pub directory: std::sync::Arc<crate::store::Directory>,
}

impl Default for Viewer {
    /// Before signing in: no name, no links, UTC.
    fn default() -> Self {
        Self {
            who: None,
            open_mode: false,
            links: false,
            unanswered: None,
            appeals: None,
            me: None,
            operator: None,
            admin: false,
            events_trouble: Vec::new(),
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

    /// Every line as (id, "name (id)"), by id: for a form's boxes to tick.
    pub fn line_choices(&self) -> Vec<(String, String)> {
        self.lines(|_| true)
            .into_iter()
            .map(|(id, name)| {
                let label = format!("{name} ({id})");
                (id, label)
            })
            .collect()
    }

    /// The people `keep` lets through, as (id, "name (id)"), by name: for a form's choice of
    /// person.
    pub fn people(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut people: Vec<(String, String)> = self
            .directory
            .people
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(id, (name, _))| (id.clone(), format!("{name} ({id})")))
            .collect();
        people.sort_by(|a, b| a.1.cmp(&b.1));
        people
    }

    /// Who did something as a record keeps it: a person's id, or `key <id>`.
    pub fn actor(&self, recorded: &str) -> Markup {
        match recorded.strip_prefix("key ") {
            Some(key) => html! { "key " code { (key) } },
            None => self.person(recorded),
        }
    }

    /// Who did something, as plain words for a sentence: a person's name (their id when no
    /// person has it), or `key <id>`.
    pub fn actor_name(&self, recorded: &str) -> String {
        match self.directory.people.get(recorded) {
            Some((name, _)) => name.clone(),
            None => recorded.to_owned(),
        }
    }

    /// Midnight starting `day` in the viewer's zone (see [`crate::clock::midnight`]).
    pub fn midnight(&self, day: chrono::NaiveDate) -> DateTime<Utc> {
        crate::clock::midnight(self.zone, day)
    }
}

fn named(name: Option<&String>, id: &str) -> Markup {
    match name {
        Some(name) if name != id => html! { span title=(id) { (name) } },
        _ => html! { code { (id) } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_zone(zone: &str) -> Viewer {
        Viewer {
            zone: zone.parse().unwrap(),
            ..Viewer::default()
        }
    }

    fn day(d: &str) -> chrono::NaiveDate {
        d.parse().unwrap()
    }

    #[test]
    fn a_day_starts_at_the_viewers_midnight_with_summer_time() {
        let berlin = in_zone("Europe/Berlin");
        assert_eq!(
            berlin.midnight(day("2026-01-15")).to_rfc3339(),
            "2026-01-14T23:00:00+00:00"
        );
        assert_eq!(
            berlin.midnight(day("2026-07-15")).to_rfc3339(),
            "2026-07-14T22:00:00+00:00"
        );
        // São Paulo's summer time began at midnight on 2018-11-04: that day began at 01:00.
        assert_eq!(
            in_zone("America/Sao_Paulo")
                .midnight(day("2018-11-04"))
                .to_rfc3339(),
            "2018-11-04T03:00:00+00:00"
        );
        // Samoa skipped 2011-12-30 whole, from UTC-10 to UTC+14: that day "began" when
        // 2011-12-31 did, at 10:00 UTC.
        let apia = in_zone("Pacific/Apia");
        assert_eq!(
            apia.midnight(day("2011-12-30")).to_rfc3339(),
            "2011-12-30T10:00:00+00:00"
        );
        assert_eq!(
            apia.midnight(day("2011-12-31")).to_rfc3339(),
            "2011-12-30T10:00:00+00:00"
        );
        assert_eq!(
            Viewer::default().midnight(day("2026-01-15")).to_rfc3339(),
            "2026-01-15T00:00:00+00:00"
        );
    }

    #[test]
    fn times_read_in_the_viewers_zone_with_its_name() {
        let t: DateTime<Utc> = "2026-07-01T10:30:00Z".parse().unwrap();
        assert_eq!(in_zone("Europe/Berlin").at(t), "2026-07-01 12:30 CEST");
        assert_eq!(in_zone("Asia/Tokyo").at(t), "2026-07-01 19:30 JST");
        assert_eq!(Viewer::default().at(t), "2026-07-01 10:30 UTC");
    }

    #[test]
    fn people_show_by_name_with_the_id_on_hover() {
        let mut directory = crate::store::Directory::default();
        directory
            .people
            .insert("op-ben".into(), ("Ben <b>".into(), None));
        let viewer = Viewer {
            directory: std::sync::Arc::new(directory),
            ..Viewer::default()
        };
        assert_eq!(
            viewer.person("op-ben").into_string(),
            r#"<span title="op-ben">Ben &lt;b&gt;</span>"#
        );
        assert_eq!(viewer.person("op-x").into_string(), "<code>op-x</code>");
        assert_eq!(viewer.actor("key k1").into_string(), "key <code>k1</code>");
    }
}
