//! Credentials out of text that others may read: a URL's user information (a password, or a
//! user name standing alone, which is usually a token) and the values of query parameters whose
//! names say they are secrets (`api_key`, `token`, `access_token`, `secret`, `password`, `sig`,
//! …) become `***`, wherever a URL appears in the text. Every error message, log field and
//! stored error that can carry an upstream URL goes through [`text`].

/// What stands in for a secret.
const MASK: &str = "***";

/// `text` with the credentials of every URL in it masked.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')'))
            .map_or(rest.len(), |i| found + i);
        // Punctuation after a URL ends the sentence, not the URL.
        let end = start
            + rest[start..end]
                .trim_end_matches([':', ',', ';', '.'])
                .len();
        out.push_str(&rest[..start]);
        out.push_str(&url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// One URL with its credentials masked.
pub fn url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = scheme_end + 3;
    let authority_end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after + i);
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..after]);
    let authority = &url[after..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(MASK);
                }
                None => out.push_str(MASK),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let rest = &url[authority_end..];
    let (before_fragment, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if sensitive(name) => format!("{name}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

/// Whether a query parameter's name says its value is a secret.
fn sensitive(name: &str) -> bool {
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "key",
        "token",
        "secret",
        "passw",
        "pwd",
        "signature",
        "credential",
        "auth",
    ]
    .iter()
    .any(|word| name.contains(word))
        || name == "sig"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_lone_user_names_are_masked_and_the_rest_kept() {
        assert_eq!(
            url("postgres://tb:secret@localhost:5432/tb"),
            "postgres://tb:***@localhost:5432/tb"
        );
        assert_eq!(
            url("https://ghp_token@api.example/v2"),
            "https://***@api.example/v2"
        );
        assert_eq!(
            url("sqlite://techbalance.db?mode=rwc"),
            "sqlite://techbalance.db?mode=rwc"
        );
        assert_eq!(
            url("http://u:p@h/x?format=json&api_key=abc&Access-Token=t&page=2#top"),
            "http://u:***@h/x?format=json&api_key=***&Access-Token=***&page=2#top"
        );
    }

    #[test]
    fn every_url_in_a_text_is_masked() {
        assert_eq!(
            text("worldbank: GET http://user:secret@host/v2?key=k: error sending request for url (http://user:secret@host/v2?key=k)"),
            "worldbank: GET http://user:***@host/v2?key=***: error sending request for url (http://user:***@host/v2?key=***)"
        );
        assert_eq!(text("no url here: a@b"), "no url here: a@b");
    }
}
