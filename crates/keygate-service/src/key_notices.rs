//! The e-mails keygate owes a key's owners, written to the outbox in the transaction of what
//! they report and delivered by `crate::delivery`:
//! * **revoked** — a key the credential-scanning endpoint revoked, worded as upstream's e-mail:
//!   subject `API Key Revoked: <description>`, and a body saying that the key "for `<project>`"
//!   was revoked automatically because it was found in a public repository;
//! * **expiring** — a key that expires within `notifications.expiry_warning_days`.
//!
//! Recipients are the owning user's primary e-mail, or for a team key every member who holds
//! `$manage_api_keys` (recursively) — each with a primary e-mail; users without one cannot be
//! written to and are left out, as upstream does. Each notice carries a dedupe key
//! (`api-key-revoked/<key id>/<email>`, `api-key-expiring/<key id>/<email>`), so a recipient is
//! told once however often the event is reported.

use keygate_domain::{ApiKey, EpochMillis, Owner};
use keygate_permissions::SystemPermission;
use keygate_storage::repo::notification_outbox::{self, NotificationRecord};
use keygate_storage::repo::{projects, users};
use keygate_storage::{DbConnection, StorageError};
use uuid::Uuid;

use crate::html::escape_html;
use crate::team_standing::members_holding;

/// Which notice to write about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyNotice {
    /// It was revoked because a credential scanner found it in public.
    Revoked,
    /// It expires soon (at the key's `expires_at_millis`).
    Expiring,
}

impl KeyNotice {
    fn dedupe_prefix(self) -> &'static str {
        match self {
            KeyNotice::Revoked => "api-key-revoked",
            KeyNotice::Expiring => "api-key-expiring",
        }
    }
}

/// A composed notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComposedNotice {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body_text: String,
    /// The HTML body; the description and project name in it are escaped.
    pub body_html: String,
}

/// A subject line is one line: control characters of the description (line breaks included)
/// become spaces, so the description cannot add mail headers when the notice is delivered.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The notice for the leaked key `description` of the project `project_display_name`.
pub(crate) fn compose(description: &str, project_display_name: &str) -> ComposedNotice {
    let subject = format!("API Key Revoked: {}", single_line(description));
    let body_text = format!(
        "API KEY REVOKED\n\n\
         Your API key \"{description}\" for {project_display_name} has been automatically \
         revoked because it was found in a public repository.\n\n\
         This is an automated security measure to protect your api keys from being leaked. If \
         you believe this was a mistake, please contact support.\n\n\
         Please create a new API key if needed.\n"
    );
    const PARAGRAPH: &str = "<p style=\"color: #555; font-size: 16px; line-height: 1.5;\">";
    let body_html = format!(
        "<div style=\"font-family: Arial, sans-serif; max-width: 600px; margin: 0 auto; padding: 20px;\">\n\
         <h2 style=\"color: #333;\">API Key Revoked</h2>\n\
         {PARAGRAPH}\nYour API key \"{}\" for {} has been automatically revoked because it was found in a public repository.\n</p>\n\
         {PARAGRAPH}\nThis is an automated security measure to protect your api keys from being leaked. If you believe this was a mistake, please contact support.\n</p>\n\
         {PARAGRAPH}\nPlease create a new API key if needed.\n</p>\n\
         </div>\n",
        escape_html(description),
        escape_html(project_display_name),
    );
    ComposedNotice {
        subject,
        body_text,
        body_html,
    }
}

/// The notice for the key `description` of the project `project_display_name`, which expires
/// at `expires_at_millis`.
pub(crate) fn compose_expiring(
    description: &str,
    project_display_name: &str,
    expires_at_millis: EpochMillis,
) -> ComposedNotice {
    let when = chrono::DateTime::from_timestamp_millis(expires_at_millis)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    let subject = format!("API Key Expiring: {}", single_line(description));
    let body_text = format!(
        "API KEY EXPIRING\n\n\
         Your API key \"{description}\" for {project_display_name} expires on {when}.\n\n\
         Create a new API key and switch to it before then; the old key stops working at that \
         time.\n"
    );
    const PARAGRAPH: &str = "<p style=\"color: #555; font-size: 16px; line-height: 1.5;\">";
    let body_html = format!(
        "<div style=\"font-family: Arial, sans-serif; max-width: 600px; margin: 0 auto; padding: 20px;\">\n\
         <h2 style=\"color: #333;\">API Key Expiring</h2>\n\
         {PARAGRAPH}\nYour API key \"{}\" for {} expires on {when}.\n</p>\n\
         {PARAGRAPH}\nCreate a new API key and switch to it before then; the old key stops working at that time.\n</p>\n\
         </div>\n",
        escape_html(description),
        escape_html(project_display_name),
    );
    ComposedNotice {
        subject,
        body_text,
        body_html,
    }
}

/// The primary e-mails to notify about `key`, without duplicates, in a stable order.
fn recipients(conn: &mut DbConnection, key: &ApiKey) -> Result<Vec<String>, StorageError> {
    let user_ids = match key.owner {
        Owner::User(user) => vec![user],
        Owner::Team(team) => {
            members_holding(conn, key.project_id, team, SystemPermission::ManageApiKeys)?
        }
    };
    let mut emails: Vec<String> = Vec::new();
    for user in user_ids {
        let email = users::get(conn, key.project_id, user)?.and_then(|u| u.primary_email);
        if let Some(email) = email.filter(|e| !emails.contains(e)) {
            emails.push(email);
        }
    }
    Ok(emails)
}

/// Writes the `kind` notice about `key` to each recipient (once per recipient, ever); returns
/// how many were new.
pub(crate) fn write_notices(
    conn: &mut DbConnection,
    key: &ApiKey,
    kind: KeyNotice,
    now: EpochMillis,
) -> Result<usize, StorageError> {
    let project_name = projects::get(conn, key.project_id)?
        .map(|project| project.display_name)
        .unwrap_or_default();
    let notice = match (kind, key.expires_at_millis) {
        (KeyNotice::Expiring, Some(expires_at)) => {
            compose_expiring(&key.description, &project_name, expires_at)
        }
        _ => compose(&key.description, &project_name),
    };
    let mut written = 0;
    for email in recipients(conn, key)? {
        let record = NotificationRecord {
            id: Uuid::new_v4(),
            project_id: key.project_id,
            dedupe_key: format!("{}/{}/{email}", kind.dedupe_prefix(), key.id),
            recipient_email: email,
            subject: notice.subject.clone(),
            body_text: notice.body_text.clone(),
            body_html: notice.body_html.clone(),
            created_at_millis: now,
            sent_at_millis: None,
        };
        if notification_outbox::insert(conn, &record)? {
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_key_and_the_project() {
        let notice = compose("Test API Key to Revoke <HTML Test &>", "New Project");
        assert_eq!(
            notice.subject,
            "API Key Revoked: Test API Key to Revoke <HTML Test &>"
        );
        assert!(notice.body_text.starts_with("API KEY REVOKED\n\n"));
        assert!(notice.body_text.contains(
            "Your API key \"Test API Key to Revoke <HTML Test &>\" for New Project has been automatically revoked because it was found in a public repository."
        ));
        assert!(notice
            .body_text
            .contains("Please create a new API key if needed."));
        assert!(notice.body_html.contains(
            "Your API key \"Test API Key to Revoke &lt;HTML Test &amp;&gt;\" for New Project has been automatically revoked"
        ));
        assert!(!notice.body_html.contains("<HTML Test"));
    }

    #[test]
    fn the_expiry_notice_names_the_key_the_project_and_when() {
        // 2026-12-11 10:30 UTC.
        let notice = compose_expiring("ci <deploys>", "Acme", 1_796_985_000_000);
        assert_eq!(notice.subject, "API Key Expiring: ci <deploys>");
        assert!(notice
            .body_text
            .contains("Your API key \"ci <deploys>\" for Acme expires on 2026-12-11 10:30 UTC."));
        assert!(notice.body_html.contains("ci &lt;deploys&gt;"));
    }

    #[test]
    fn html_is_escaped_and_subjects_stay_on_one_line() {
        assert_eq!(
            escape_html(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        let notice = compose("evil\r\nBcc: someone@example.com", "<b>Project</b>");
        assert_eq!(
            notice.subject,
            "API Key Revoked: evil  Bcc: someone@example.com"
        );
        assert!(notice
            .body_html
            .contains("for &lt;b&gt;Project&lt;/b&gt; has been"));
    }
}
