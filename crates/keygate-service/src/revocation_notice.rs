//! The notice sent to the owner of a key that the credential-scanning endpoint revoked, worded
//! as upstream's e-mail: subject `API Key Revoked: <description>`, and a body saying that the
//! key "for `<project>`" was revoked automatically because it was found in a public repository.

use crate::html::escape_html;

/// A composed notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevocationNotice {
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

/// The notice for the key `description` of the project `project_display_name`.
pub(crate) fn compose(description: &str, project_display_name: &str) -> RevocationNotice {
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
    RevocationNotice {
        subject,
        body_text,
        body_html,
    }
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
