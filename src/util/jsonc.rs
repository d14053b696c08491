//! JSON with comments and trailing commas — VS Code's settings format — read as JSON.

/// Parses JSONC: `//` and `/* */` comments and trailing commas before `}` or `]` are dropped, outside strings
/// only; everything else is JSON.
pub fn parse(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(&to_json(text))
}

fn to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    // A comma outside strings is held until what follows it shows whether it is a trailing one.
    let mut held_comma = false;
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                while chars.next().is_some_and(|c| c != '\n') {}
                out.push('\n');
                continue;
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                continue;
            }
            (',', _) => {
                if held_comma {
                    out.push(',');
                }
                held_comma = true;
                continue;
            }
            (c, _) if c.is_whitespace() => {
                out.push(c);
                continue;
            }
            _ => {}
        }
        if std::mem::take(&mut held_comma) && c != '}' && c != ']' {
            out.push(',');
        }
        out.push(c);
        if c == '"' {
            // A string is copied as it is, escapes included: comment or comma look-alikes in it are text.
            while let Some(c) = chars.next() {
                out.push(c);
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => break,
                    _ => {}
                }
            }
        }
    }
    if held_comma {
        out.push(',');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_go_and_strings_stay_as_they_are() {
        let text = "{\n // a comment\n \"a\": \"http://x\", /* block */ \"remote.SSH.connectTimeout\": 60,\n}";
        let json = parse(text).unwrap();
        assert_eq!(json["a"], "http://x");
        assert_eq!(json["remote.SSH.connectTimeout"], 60);

        let tricky = r#"{"s": ", }", "t": "a // b /* c */", "e": "q\" ,]", "l": [1, 2, ], }"#;
        let json = parse(tricky).unwrap();
        assert_eq!(json["s"], ", }");
        assert_eq!(json["t"], "a // b /* c */");
        assert_eq!(json["e"], "q\" ,]");
        assert_eq!(json["l"], serde_json::json!([1, 2]));
    }

    #[test]
    fn what_is_not_json_stays_an_error() {
        assert!(parse("{\"a\": }").is_err());
        assert!(parse("{\"a\": 1,, \"b\": 2}").is_err(), "two commas are not a trailing comma");
        assert!(parse("").is_err());
    }
}
