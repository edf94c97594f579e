//! Shell-style wildcards, `*` for any run of characters and `?` for any one,
//! as `[[push_key]]` rules match instance ids and Name tags and as ssh
//! matches known_hosts patterns. A leaf: it depends on nothing.

/// Whether `text` matches `pattern`, character for character.
pub fn glob(pattern: &str, text: &str) -> bool {
    glob_by(pattern, text, |p, t| p == t)
}

/// [`glob`] ignoring ASCII case, as ssh compares host names.
pub fn glob_ignore_ascii_case(pattern: &str, text: &str) -> bool {
    glob_by(pattern, text, |p, t| p.eq_ignore_ascii_case(&t))
}

/// Iterative matching with one backtrack point (the last `*`): linear in
/// practice for names this short, and no recursion a hostile pattern could
/// deepen.
fn glob_by(pattern: &str, text: &str, same: impl Fn(char, char) -> bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in the text its match now ends.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || same(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry.
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob("i-0abc*", "i-0abc123"));
        assert!(glob("*", ""));
        assert!(glob("web-?", "web-1"));
        assert!(!glob("web-?", "web-10"));
        assert!(glob("*-db-*", "prod-db-2"));
        assert!(!glob("i-0abc*", "i-0abd123"));
        assert!(glob("a*b*c", "aXXbYYbc"));
        assert!(!glob("a*b*c", "axxbyyb"));
        assert!(!glob("Web-1", "web-1"));
        assert!(glob("[i-1]:2222", "[i-1]:2222"));
    }

    #[test]
    fn host_patterns_ignore_ascii_case() {
        assert!(glob_ignore_ascii_case("*.VPC.internal", "db.vpc.internal"));
        assert!(glob_ignore_ascii_case("I-0AB?", "i-0abc"));
        assert!(!glob_ignore_ascii_case("i-0ab?", "i-0ab"));
        assert!(!glob_ignore_ascii_case("i-1", "i-10"));
    }
}
